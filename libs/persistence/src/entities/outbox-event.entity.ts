import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { jsonKind } from "../sql-checks.js";

/** Channel that `outbox_events` inserts notify (payload: the new id). */
export const OUTBOX_NOTIFY_CHANNEL = "taskmaster_outbox";

/**
 * Change log / transactional outbox. `id` (bigint identity) is the resume token: consumers remember the
 * last id they processed and continue with `id > token`. An insert trigger sends NOTIFY
 * `taskmaster_outbox` so listeners wake up without polling.
 */
export const OutboxEvent = defineEntity({
  name: "OutboxEvent",
  tableName: "outbox_events",
  properties: {
    id: p.bigint("string").primary().autoincrement(),
    aggregateType: p.string().length(64),
    aggregateId: p.uuid(),
    /** e.g. `task.created`, `task.status_changed`, `task.comment_added`. */
    eventKind: p.string().length(64),
    payload: p.json<Record<string, unknown>>().columnType("jsonb").defaultRaw("'{}'::jsonb"),
    actor: p.string().length(255).nullable(),
    requestId: p.string().length(255).nullable(),
    traceId: p.string().length(64).nullable(),
    createdAt: p
      .datetime()
      .columnType("timestamptz")
      .defaultRaw("now()")
      .onCreate(() => new Date()),
  },
  checks: [
    { name: "outbox_events_aggregate_type_check", expression: "aggregate_type ~ '^[a-z][a-z0-9_]{0,63}$'" },
    {
      name: "outbox_events_event_kind_check",
      expression: "event_kind ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*$'",
    },
    { name: "outbox_events_payload_check", expression: jsonKind("payload", "object") },
  ],
  indexes: [
    { name: "outbox_events_aggregate_idx", properties: ["aggregateType", "aggregateId", "id"] },
    { name: "outbox_events_created_at_idx", properties: ["createdAt"] },
  ],
  triggers: [
    {
      name: "outbox_events_notify",
      timing: "after",
      events: ["insert"],
      forEach: "row",
      body: `perform pg_notify('${OUTBOX_NOTIFY_CHANNEL}', new.id::text); return null;`,
    },
  ],
});

export type IOutboxEvent = InferEntity<typeof OutboxEvent>;
