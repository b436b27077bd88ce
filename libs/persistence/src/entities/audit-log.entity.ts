import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { inSet } from "../sql-checks.js";
import { AUDIT_ACTIONS, type AuditAction } from "../value-sets.js";
import { idProperty } from "./common.js";

/**
 * Audit trail row. `seq` orders the hash chain (`hash` = sha256 of the row content and `prev_hash`).
 * `entity_type` is a snake_case entity name (e.g. `task`), not a closed set, so new entities can be
 * audited without a migration (the upstream check/trigger mismatch cannot happen).
 *
 * The table is partitioned by month on `occurred_at` (migration 20261126090000), so PostgreSQL requires the
 * partition key in every unique constraint: the primary key is (`id`, `occurred_at`) and `seq` is unique
 * together with `occurred_at`. Partitioning itself is migration-only (not part of the entity).
 */
export const AuditLog = defineEntity({
  name: "AuditLog",
  tableName: "audit_log",
  properties: {
    id: idProperty(),
    seq: p.bigint("string").autoincrement(),
    entityType: p.string().length(64),
    entityId: p.string().length(255),
    action: p.string().length(16).$type<AuditAction>(),
    changedFields: p.array().columnType("text[]").defaultRaw("'{}'::text[]"),
    oldValues: p.json<Record<string, unknown>>().columnType("jsonb").nullable(),
    newValues: p.json<Record<string, unknown>>().columnType("jsonb").nullable(),
    actor: p.string().length(255).nullable(),
    requestId: p.string().length(255).nullable(),
    traceId: p.string().length(64).nullable(),
    clientIp: p.string().columnType("inet").nullable(),
    userAgent: p.text().nullable(),
    occurredAt: p
      .datetime()
      .columnType("timestamptz")
      .defaultRaw("now()")
      .onCreate(() => new Date())
      .primary(),
    prevHash: p.string().length(64).nullable(),
    hash: p.string().length(64).nullable(),
  },
  checks: [
    { name: "audit_log_entity_type_check", expression: "entity_type ~ '^[a-z][a-z0-9_]{0,63}$'" },
    { name: "audit_log_action_check", expression: inSet("action", AUDIT_ACTIONS) },
    { name: "audit_log_hash_check", expression: "hash is null or hash ~ '^[0-9a-f]{64}$'" },
    { name: "audit_log_prev_hash_check", expression: "prev_hash is null or prev_hash ~ '^[0-9a-f]{64}$'" },
  ],
  uniques: [{ name: "audit_log_seq_uniq", properties: ["seq", "occurredAt"] }],
  indexes: [
    { name: "audit_log_entity_idx", properties: ["entityType", "entityId", "occurredAt"] },
    { name: "audit_log_actor_idx", properties: ["actor", "occurredAt"] },
    { name: "audit_log_action_idx", properties: ["action", "occurredAt"] },
    { name: "audit_log_occurred_at_idx", properties: ["occurredAt"] },
  ],
});

export type IAuditLog = InferEntity<typeof AuditLog>;
