import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { idProperty } from "./common.js";

/**
 * Remembers the first response to a request carrying a client `request_id`, per scope
 * (e.g. `taskmaster.task.v1.TaskService/CreateTask` + caller), so retries return it instead of
 * repeating the side effect.
 */
export const IdempotencyKey = defineEntity({
  name: "IdempotencyKey",
  tableName: "idempotency_keys",
  properties: {
    id: idProperty(),
    scope: p.string().length(255),
    requestId: p.string().length(255),
    /** sha256 hex of the request body, to reject a reused request_id with a different request. */
    requestHash: p.string().length(64).nullable(),
    resourceId: p.string().length(255).nullable(),
    responseJson: p.json<Record<string, unknown>>().columnType("jsonb").nullable(),
    responseBytes: p.blob().nullable(),
    createdAt: p
      .datetime()
      .columnType("timestamptz")
      .defaultRaw("now()")
      .onCreate(() => new Date()),
    expiresAt: p.datetime().columnType("timestamptz").nullable(),
  },
  checks: [
    { name: "idempotency_keys_request_id_check", expression: "char_length(request_id) between 1 and 255" },
    {
      name: "idempotency_keys_request_hash_check",
      expression: "request_hash is null or request_hash ~ '^[0-9a-f]{64}$'",
    },
  ],
  uniques: [{ name: "idempotency_keys_scope_request_uniq", properties: ["scope", "requestId"] }],
  indexes: [{ name: "idempotency_keys_created_at_idx", properties: ["createdAt"] }],
});

export type IIdempotencyKey = InferEntity<typeof IdempotencyKey>;
