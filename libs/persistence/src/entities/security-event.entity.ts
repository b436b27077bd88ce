import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { inSet, jsonKind } from "../sql-checks.js";
import { SECURITY_EVENT_KINDS, type SecurityEventKind } from "../value-sets.js";
import { idProperty } from "./common.js";

/** Failed authentication, permission denial, rate limit hit or suspicious input (never the secret itself). */
export const SecurityEvent = defineEntity({
  name: "SecurityEvent",
  tableName: "security_events",
  properties: {
    id: idProperty(),
    kind: p.string().length(32).$type<SecurityEventKind>(),
    identity: p.string().length(255).nullable(),
    ip: p.string().columnType("inet").nullable(),
    detail: p.json<Record<string, unknown>>().columnType("jsonb").defaultRaw("'{}'::jsonb"),
    occurredAt: p
      .datetime()
      .columnType("timestamptz")
      .defaultRaw("now()")
      .onCreate(() => new Date()),
  },
  checks: [
    { name: "security_events_kind_check", expression: inSet("kind", SECURITY_EVENT_KINDS) },
    { name: "security_events_detail_check", expression: jsonKind("detail", "object") },
  ],
  indexes: [
    { name: "security_events_kind_idx", properties: ["kind", "occurredAt"] },
    { name: "security_events_identity_idx", properties: ["identity", "occurredAt"] },
    { name: "security_events_occurred_at_idx", properties: ["occurredAt"] },
  ],
});

export type ISecurityEvent = InferEntity<typeof SecurityEvent>;
