/**
 * Workflow persistence: status transitions (with history rows and outbox events in one transaction), status
 * history listing and the time-in-status / estimate-accuracy reports, all in SQL.
 */
import type { EntityManager } from "@mikro-orm/core";
import { conditionsSql, type ListCondition } from "./filter-sql.js";
import { createOnce } from "./idempotency.js";
import { newId } from "./ids.js";
import { bindingDigest, decodeKeysetToken, keysetPage, tokenField } from "./page-token.js";
import { allOf, insertTaskEvent, loadTask, query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import { TASK_SELECT_LIST, type TaskRow, taskRowFromDb } from "./task.repository.js";
import type { TaskEventContext } from "./task-events.js";
import { TASK_FILTER_COLUMNS } from "./task-filter.columns.js";
import type { TaskStatus } from "./value-sets.js";

/** The filter condition types, re-exported for the workflow filter of task-service. */
export type { ListCondition as FilterCondition, ListOp as FilterOp } from "./filter-sql.js";

const toDate = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

// ------------------------------------------------------------------------------------------------
// Status history

export interface StatusChangeRow {
  id: string;
  taskId: string;
  fromStatus: TaskStatus | null;
  toStatus: TaskStatus;
  changedBy: string | null;
  reason: string | null;
  forced: boolean;
  changedAt: Date;
  /** Milliseconds spent in `fromStatus` (null for the first row of a task). */
  previousDurationMs: number | null;
}

const HISTORY_SELECT = `h.id, h.task_id, h.from_status, h.to_status, h.changed_by, h.reason, h.forced, h.changed_at,
  (extract(epoch from h.changed_at) * 1000000)::bigint::text as cursor_us,
  (extract(epoch from (h.changed_at - (select p.changed_at from task_status_history p
      where p.task_id = h.task_id and (p.changed_at, p.id) < (h.changed_at, h.id)
      order by p.changed_at desc, p.id desc limit 1))) * 1000)::float8 as previous_ms`;

/** Filterable history columns by ListStatusHistory filter name. */
const HISTORY_FILTER_COLUMNS = {
  from_status: "h.from_status",
  to_status: "h.to_status",
  changed_by: "h.changed_by",
  change_time: "h.changed_at",
  forced: "h.forced",
};

/** The timestamp `micros` microseconds after the epoch (keyset cursors of history, comments, time logs, attachments). */
export function microsSql(micros: string): RawBuilder<unknown> {
  return sql`(timestamptz 'epoch' + ${micros}::bigint * interval '1 microsecond')`;
}

function historyRow(raw: Record<string, unknown>): StatusChangeRow {
  return {
    id: String(raw.id),
    taskId: String(raw.task_id),
    fromStatus: (raw.from_status as TaskStatus | null) ?? null,
    toStatus: raw.to_status as TaskStatus,
    changedBy: (raw.changed_by as string | null) ?? null,
    reason: (raw.reason as string | null) ?? null,
    forced: raw.forced === true,
    changedAt: toDate(raw.changed_at),
    previousDurationMs:
      raw.previous_ms === null || raw.previous_ms === undefined ? null : Number(raw.previous_ms),
  };
}

export interface TransitionInput {
  taskId: string;
  to: TaskStatus;
  reason: string | null;
  force: boolean;
  /** Expected version (from the etag), if the caller sent one. */
  expectedVersion: number | null;
  /** Allowed next statuses per status. */
  allowed: (from: TaskStatus) => readonly TaskStatus[];
  /** Statuses that count as done for blockers. */
  doneStatuses: readonly TaskStatus[];
}

export type TransitionOutcome =
  | { kind: "ok"; task: TaskRow; change: StatusChangeRow }
  | { kind: "not_found" }
  | { kind: "deleted" }
  | { kind: "stale" }
  | { kind: "same_status"; from: TaskStatus }
  | { kind: "illegal"; from: TaskStatus; allowed: readonly TaskStatus[] }
  | { kind: "blocked"; from: TaskStatus; allowed: readonly TaskStatus[]; blockers: string[] };

const TRANSITION_SCOPE = "task.transition";

export class WorkflowRepository {
  constructor(private readonly em: EntityManager) {}

  /**
   * Changes a task's status: checks etag, transition table and open blockers, then in one transaction
   * updates the task (version + 1, start/complete times), writes the history row and the outbox event.
   */
  async transition(input: TransitionInput, ctx: TaskEventContext): Promise<TransitionOutcome> {
    return createOnce<TransitionOutcome>(this.em, {
      scope: TRANSITION_SCOPE,
      requestId: ctx.requestId,
      replay: (em, historyId) => this.replay(em, historyId),
      create: async (em) => {
        const result = await this.transitionOnce(em, input, ctx);
        return { result, resourceId: result.kind === "ok" ? result.change.id : null };
      },
    });
  }

  /** The checks and writes of `transition`, in its transaction. */
  private async transitionOnce(
    em: EntityManager,
    input: TransitionInput,
    ctx: TaskEventContext,
  ): Promise<TransitionOutcome> {
    const task = await loadTask(em, input.taskId);
    if (task === null) return { kind: "not_found" as const };
    if (task.deletedAt !== null) return { kind: "deleted" as const };
    if (input.expectedVersion !== null && input.expectedVersion !== task.version) {
      return { kind: "stale" as const };
    }
    const from = task.status;
    if (from === input.to) return { kind: "same_status" as const, from };
    const allowed = input.allowed(from);
    if (!input.force && !allowed.includes(input.to)) return { kind: "illegal" as const, from, allowed };
    if (input.to === "in_progress" && !input.force) {
      const blockers = await this.openBlockers(em, task.id, input.doneStatuses);
      if (blockers.length > 0) return { kind: "blocked" as const, from, allowed, blockers };
    }
    const updated = await query(
      em,
      sql<Row>`update tasks t set status = ${input.to}, version = version + 1, updated_at = now(),
         started_at = case when ${input.to}::text = 'in_progress' then coalesce(started_at, now()) else started_at end,
         completed_at = case when ${input.to}::text = 'completed' then now() else null end
       where t.id = ${task.id} and t.version = ${task.version} and t.deleted_at is null
       returning ${sql.raw(TASK_SELECT_LIST)}`,
    );
    if (updated[0] === undefined) return { kind: "stale" as const };
    const historyId = newId();
    await query(
      em,
      sql`insert into task_status_history (id, task_id, from_status, to_status, changed_by, reason, forced, changed_at)
       values (${historyId}, ${task.id}, ${from}, ${input.to}, ${ctx.actor ?? null}, ${input.reason}, ${input.force},
         clock_timestamp())`,
    );
    await insertTaskEvent(
      em,
      task.id,
      "task.status_changed",
      { from, to: input.to, forced: input.force, statusChangeId: historyId },
      ctx,
    );
    const change = await this.getChange(em, task.id, historyId);
    if (change === null) throw new Error("status history row vanished");
    return { kind: "ok" as const, task: taskRowFromDb(updated[0]), change };
  }

  /** The outcome of the transition that wrote history row `historyId`, with the task as it is now. */
  private async replay(em: EntityManager, historyId: string): Promise<TransitionOutcome | null> {
    const rows = await query(em, sql<Row>`select task_id from task_status_history where id = ${historyId}`);
    const taskId = rows[0]?.task_id;
    if (typeof taskId !== "string") return null;
    const task = await loadTask(em, taskId);
    const change = await this.getChange(em, taskId, historyId);
    return task && change ? { kind: "ok", task, change } : null;
  }

  /** Open tasks that block `taskId` (X blocks it, or it depends on X), as ids. */
  async openBlockers(em: EntityManager, taskId: string, done: readonly TaskStatus[]): Promise<string[]> {
    const rows = await query(
      em,
      sql<Row>`select distinct b.id from (
         select r.source_task_id as id from task_relationships r where r.target_task_id = ${taskId} and r.type = 'blocks'
         union select r.target_task_id from task_relationships r where r.source_task_id = ${taskId} and r.type = 'blocked_by'
         union select r.target_task_id from task_relationships r where r.source_task_id = ${taskId} and r.type = 'depends_on'
         union select r.source_task_id from task_relationships r where r.target_task_id = ${taskId} and r.type = 'dependency_of'
       ) x join tasks b on b.id = x.id
       where b.deleted_at is null and b.status <> all(${done}::text[])
       order by b.id`,
    );
    return rows.map((r) => String(r.id));
  }

  private async getChange(em: EntityManager, taskId: string, id: string): Promise<StatusChangeRow | null> {
    const rows = await query(
      em,
      sql<Row>`select ${sql.raw(HISTORY_SELECT)} from task_status_history h where h.task_id = ${taskId} and h.id = ${id}`,
    );
    return rows[0] ? historyRow(rows[0]) : null;
  }

  /** One page of history rows of a task (or all tasks when `taskId` is null), by (changed_at, id). */
  async listHistory(opts: {
    taskId: string | null;
    pageSize: number;
    pageToken: string | null;
    descending: boolean;
    conditions: readonly ListCondition[];
    binding: string;
  }): Promise<{ items: StatusChangeRow[]; nextPageToken: string | null }> {
    const where: RawBuilder<unknown>[] = [];
    if (opts.taskId !== null) where.push(sql`h.task_id = ${opts.taskId}`);
    where.push(...conditionsSql(opts.conditions, HISTORY_FILTER_COLUMNS));
    const dir = sql.raw(opts.descending ? "desc" : "asc");
    if (opts.pageToken !== null) {
      const pos = decodeKeysetToken(opts.pageToken, "k1", bindingDigest(opts.binding), tokenField.micros);
      where.push(
        sql`(h.changed_at, h.id) ${sql.raw(opts.descending ? "<" : ">")} (${microsSql(pos.key)}, ${pos.id}::uuid)`,
      );
    }
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(HISTORY_SELECT)} from task_status_history h where ${allOf(where)}
       order by h.changed_at ${dir}, h.id ${dir} limit ${opts.pageSize + 1}::int`,
    );
    return keysetPage(rows, opts.pageSize, historyRow, {
      tag: "k1",
      binding: bindingDigest(opts.binding),
      keyColumn: "cursor_us",
    });
  }

  /** Whether a task row exists (soft-deleted included). */
  async taskExists(id: string): Promise<boolean> {
    return (await query(this.em, sql`select 1 from tasks where id = ${id}`)).length > 0;
  }

  /** Whether a sprint row exists. */
  async sprintExists(id: string): Promise<boolean> {
    return (await query(this.em, sql`select 1 from sprints where id = ${id}`)).length > 0;
  }

  /**
   * Time spent per status by the tasks in scope, from the history: each row opens an interval in
   * `to_status` that the next row of the task closes (an open interval counts until now), clipped to
   * [rangeStart, rangeEnd).
   */
  async timeInStatus(opts: {
    scope: TaskScope;
    rangeStart: Date | null;
    rangeEnd: Date | null;
  }): Promise<{ taskCount: number; entries: TimeInStatusRow[] }> {
    const scope = scopeWhere(opts.scope);
    const rows = await query(
      this.em,
      sql<Row>`with intervals as (
         select h.to_status as status, h.changed_at as started,
                coalesce(lead(h.changed_at) over (partition by h.task_id order by h.changed_at, h.id), now()) as ended
         from task_status_history h join tasks t on t.id = h.task_id
         where t.deleted_at is null and ${scope}),
       clipped as (
         select status, greatest(started, coalesce(${opts.rangeStart}::timestamptz, started)) as s,
                least(ended, coalesce(${opts.rangeEnd}::timestamptz, ended)) as e
         from intervals)
       select c.status, sum(extract(epoch from (c.e - c.s)) * 1000)::float8 as total_ms, count(*)::int as entry_count
       from clipped c where c.e > c.s
       group by c.status order by c.status`,
    );
    const count = await query(
      this.em,
      sql<Row>`select count(*)::int as n from tasks t where t.deleted_at is null and ${scope}`,
    );
    const taskCount = Number(count[0]?.n ?? 0);
    return {
      taskCount,
      entries: rows.map((r) => ({
        status: r.status as TaskStatus,
        totalMs: Number(r.total_ms),
        entryCount: Number(r.entry_count),
      })),
    };
  }

  /** Estimated vs actual hours of the tasks in scope (with both an estimate and actual hours), grouped. */
  async estimateAccuracy(opts: {
    scope: TaskScope;
    groupBy: EstimateGroupColumn | null;
    completedFrom: Date | null;
    completedTo: Date | null;
  }): Promise<EstimateAccuracyDbRow[]> {
    const where = [
      sql`t.deleted_at is null`,
      scopeWhere(opts.scope),
      sql`t.estimated_hours is not null`,
      sql`t.actual_hours > 0`,
    ];
    if (opts.completedFrom !== null) where.push(sql`t.completed_at >= ${opts.completedFrom}::timestamptz`);
    if (opts.completedTo !== null) where.push(sql`t.completed_at < ${opts.completedTo}::timestamptz`);
    const select = (key: RawBuilder<unknown>) =>
      sql<Row>`select ${key} as group_key, count(*)::int as task_count,
              coalesce(sum(t.estimated_hours), 0)::float8 as estimated, coalesce(sum(t.actual_hours), 0)::float8 as actual,
              coalesce(avg(abs(t.actual_hours - t.estimated_hours)), 0)::float8 as mae
       from tasks t where ${allOf(where)}`;
    const toRow = (r: Record<string, unknown>, groupKey: string): EstimateAccuracyDbRow => ({
      groupKey,
      taskCount: Number(r.task_count),
      estimatedHours: Number(r.estimated),
      actualHours: Number(r.actual),
      meanAbsoluteErrorHours: Number(r.mae),
    });
    const overall = await query(this.em, select(sql`''`));
    const out: EstimateAccuracyDbRow[] = overall[0] ? [toRow(overall[0], "")] : [];
    if (opts.groupBy !== null) {
      const key = sql`coalesce(${sql.ref(`t.${opts.groupBy}`)}::text, '-')`;
      const groups = await query(this.em, sql<Row>`${select(key)} group by 1 order by 1`);
      for (const r of groups) out.push(toRow(r, String(r.group_key)));
    }
    return out;
  }
}

/** Which tasks a report covers; `conditions` use the task fields of ListTasks filter names (see task-filter.columns.ts). */
export type TaskScope =
  | { kind: "task"; id: string }
  | { kind: "sprint"; id: string }
  | { kind: "filter"; conditions: readonly ListCondition[] };

export type EstimateGroupColumn = "assigned_to" | "type" | "sprint_id" | "epic_id" | "complexity";

/** The scope as a condition over `tasks t`. */
export function scopeWhere(scope: TaskScope): RawBuilder<unknown> {
  if (scope.kind === "task") return sql`t.id = ${scope.id}::uuid`;
  if (scope.kind === "sprint") return sql`t.sprint_id = ${scope.id}::uuid`;
  return sql`(${allOf(conditionsSql(scope.conditions, TASK_FILTER_COLUMNS))})`;
}

export interface TimeInStatusRow {
  status: TaskStatus;
  totalMs: number;
  entryCount: number;
}

export interface EstimateAccuracyDbRow {
  groupKey: string;
  taskCount: number;
  estimatedHours: number;
  actualHours: number;
  meanAbsoluteErrorHours: number;
}
