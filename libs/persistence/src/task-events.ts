/**
 * The one way to record a task change for WatchTasks: an `outbox_events` row written with the caller's
 * connection and transaction, so it commits (or rolls back) with the change itself. The insert trigger
 * NOTIFYs listeners.
 */
import type { EntityManager } from "@mikro-orm/core";
import { query, type Row, sql } from "./sql-toolkit.js";

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

/** Inserts one outbox event about a task: a single INSERT on the caller's connection and transaction. */
export async function insertTaskEvent(
  em: EntityManager,
  taskId: string,
  kind: string,
  payload: Record<string, unknown>,
  ctx: TaskEventContext,
): Promise<void> {
  await query(
    em,
    sql<Row>`insert into outbox_events (aggregate_type, aggregate_id, event_kind, payload, actor, request_id, trace_id)
      values ('task', ${taskId}, ${kind}, ${JSON.stringify(payload)}::jsonb, ${ctx.actor ?? null},
        ${ctx.requestId ?? null}, ${ctx.traceId ?? null})`,
  );
}
