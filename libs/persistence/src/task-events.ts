/**
 * The one way to record a task change for WatchTasks: an `outbox_events` row written with the caller's
 * EntityManager, so it commits (or rolls back) with the change itself. The insert trigger NOTIFYs listeners.
 */
import type { EntityManager } from "@mikro-orm/core";
import { OutboxEvent } from "./entities/outbox-event.entity.js";

/** Event kinds, mirroring `taskmaster.task.v1.TaskEventKind` (`TASK_EVENT_KIND_STATUS_CHANGED` -> "task.status_changed"). */
export const TASK_EVENT_KINDS = [
  "task.created",
  "task.updated",
  "task.status_changed",
  "task.deleted",
  "task.undeleted",
  "task.moved",
  "task.comment",
  "task.time_log",
  "task.relationship",
  "task.claim",
  "task.attachment",
] as const;
export type TaskEventKind = (typeof TASK_EVENT_KINDS)[number];

export interface TaskEventContext {
  actor?: string | null;
  requestId?: string | null;
  traceId?: string | null;
}

/**
 * Persists (on the next flush of `em`) one event about `taskId`. `payload` says what changed, e.g.
 * `{ fields: ["title"] }`, `{ from: "pending", to: "in_progress" }` or `{ commentId }`; keep secrets out of it.
 */
export function recordTaskEvent(
  em: EntityManager,
  taskId: string,
  kind: TaskEventKind,
  payload: Record<string, unknown> = {},
  ctx: TaskEventContext = {},
): void {
  em.create(OutboxEvent, {
    aggregateType: "task",
    aggregateId: taskId,
    eventKind: kind,
    payload,
    actor: ctx.actor ?? null,
    requestId: ctx.requestId ?? null,
    traceId: ctx.traceId ?? null,
  });
}

/** Same as {@link recordTaskEvent} for raw-SQL paths: one INSERT on the caller's connection/transaction. */
export const INSERT_TASK_EVENT_SQL = `insert into outbox_events (aggregate_type, aggregate_id, event_kind, payload, actor, request_id, trace_id)
  values ('task', ?, ?, ?::jsonb, ?, ?, ?)`;
