/**
 * Time logs. Every create/delete locks the task row, writes the log, recomputes `tasks.actual_hours` from
 * the logs (bumping version/updated_at) and records a `task.time_log` outbox event, all in one transaction.
 */
import type { EntityManager } from "@mikro-orm/core";
import { conditionsSql, type ListCondition as FilterCondition } from "./filter-sql.js";
import { createOnce } from "./idempotency.js";
import { newId } from "./ids.js";
import { bindingDigest, decodeKeysetToken, keysetPage, tokenField } from "./page-token.js";
import { allOf, insertTaskEvent, loadTask, query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import type { TaskEventContext } from "./task-events.js";
import { TASK_FILTER_COLUMNS } from "./task-filter.columns.js";
import type { TimeLogActivityType } from "./value-sets.js";
import { microsSql } from "./workflow.repository.js";

export interface TimeLogRow {
  id: string;
  taskId: string;
  userId: string;
  activityType: TimeLogActivityType;
  description: string | null;
  hours: number;
  /** `YYYY-MM-DD`. */
  logDate: string;
  startedAt: Date | null;
  endedAt: Date | null;
  billable: boolean;
  sprintId: string | null;
  createdAt: Date;
}

const SELECT = `l.id, l.task_id, l.user_id, l.activity_type, l.description, l.hours::float8 as hours,
  to_char(l.log_date, 'YYYY-MM-DD') as log_date, l.started_at, l.ended_at, l.is_billable, l.sprint_id, l.created_at`;

const toDate = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const optDate = (v: unknown): Date | null => (v === null || v === undefined ? null : toDate(v));

/** Select list of a time log over the `task_time_logs l` alias (read by WatchTasks too). */
export const TIME_LOG_SELECT = SELECT;

export function timeLogRow(raw: Record<string, unknown>): TimeLogRow {
  return {
    id: String(raw.id),
    taskId: String(raw.task_id),
    userId: String(raw.user_id),
    activityType: raw.activity_type as TimeLogActivityType,
    description: (raw.description as string | null) ?? null,
    hours: Number(raw.hours),
    logDate: String(raw.log_date),
    startedAt: optDate(raw.started_at),
    endedAt: optDate(raw.ended_at),
    billable: raw.is_billable === true,
    sprintId: raw.sprint_id === null || raw.sprint_id === undefined ? null : String(raw.sprint_id),
    createdAt: toDate(raw.created_at),
  };
}

export interface CreateTimeLogInput {
  taskId: string;
  userId: string;
  activityType: TimeLogActivityType;
  description: string | null;
  hours: number;
  logDate: string;
  startedAt: Date | null;
  endedAt: Date | null;
  billable: boolean;
}

export type TimeLogWriteOutcome =
  | { kind: "ok"; timeLog: TimeLogRow | null; actualHours: number }
  | { kind: "task_not_found" }
  | { kind: "task_deleted" }
  | { kind: "not_found" };

export type TimeLogOrderField = "log_date" | "hours" | "create_time";

/** Per order field: the column, its cursor text, the cursor text back as a value, the cursor's shape. */
const ORDER: Record<
  TimeLogOrderField,
  { key: string; param: (key: string) => RawBuilder<unknown>; column: string; keyPattern: RegExp }
> = {
  log_date: {
    column: "l.log_date",
    key: "to_char(l.log_date, 'YYYY-MM-DD')",
    param: (key) => sql`${key}::date`,
    keyPattern: /^\d{4}-\d{2}-\d{2}$/,
  },
  hours: {
    column: "l.hours",
    key: "l.hours::text",
    param: (key) => sql`${key}::numeric`,
    keyPattern: /^\d{1,3}(\.\d{1,2})?$/,
  },
  create_time: {
    column: "l.created_at",
    key: "(extract(epoch from l.created_at) * 1000000)::bigint::text",
    param: microsSql,
    keyPattern: /^-?\d{1,20}$/,
  },
};

/** Filterable time-log columns by ListTimeLogs filter name. */
const TIME_LOG_FILTER_COLUMNS = {
  user: "l.user_id",
  log_date: "l.log_date",
  sprint: "l.sprint_id",
  billable: "l.is_billable",
  activity_type: "l.activity_type",
};

export interface SummaryRow {
  groupKey: string;
  hours: number;
  billableHours: number;
  entryCount: number;
}

export type TimeLogGroupColumn = "user_id" | "sprint_id" | "task_id" | "log_date";

const CREATE_SCOPE = "time_log.create";

export class TimeLogRepository {
  constructor(private readonly em: EntityManager) {}

  async get(taskId: string, id: string): Promise<TimeLogRow | null> {
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(SELECT)} from task_time_logs l where l.task_id = ${taskId} and l.id = ${id}`,
    );
    return rows[0] ? timeLogRow(rows[0]) : null;
  }

  /** Recomputes actual_hours of a (locked) task from its logs; bumps version. Returns the new value. */
  private async recompute(em: EntityManager, taskId: string): Promise<number> {
    const rows = await query(
      em,
      sql<Row>`update tasks set actual_hours = (select coalesce(sum(hours), 0) from task_time_logs where task_id = ${taskId}),
         version = version + 1, updated_at = now()
       where id = ${taskId} returning actual_hours::float8 as actual_hours`,
    );
    return Number(rows[0]?.actual_hours ?? 0);
  }

  async create(input: CreateTimeLogInput, ctx: TaskEventContext): Promise<TimeLogWriteOutcome> {
    return createOnce<TimeLogWriteOutcome>(this.em, {
      scope: CREATE_SCOPE,
      requestId: ctx.requestId,
      replay: async (em, id) => {
        const timeLog = await new TimeLogRepository(em).get(input.taskId, id);
        const task = await loadTask(em, input.taskId);
        return timeLog && task ? { kind: "ok", timeLog, actualHours: task.actualHours } : null;
      },
      create: async (em) => {
        // Lock the task first so concurrent writers serialise and every recompute sees every log.
        const task = await loadTask(em, input.taskId, true);
        if (task === null) return { result: { kind: "task_not_found" }, resourceId: null };
        if (task.deletedAt !== null) return { result: { kind: "task_deleted" }, resourceId: null };
        const id = newId();
        await query(
          em,
          sql`insert into task_time_logs (id, task_id, user_id, activity_type, description, hours, log_date, started_at,
               ended_at, is_billable, sprint_id, created_at)
             values (${id}, ${input.taskId}, ${input.userId}, ${input.activityType}, ${input.description}, ${input.hours},
               ${input.logDate}::date, ${input.startedAt}, ${input.endedAt}, ${input.billable}, ${task.sprintId},
               clock_timestamp())`,
        );
        const actualHours = await this.recompute(em, input.taskId);
        const rows = await query(
          em,
          sql<Row>`select ${sql.raw(SELECT)} from task_time_logs l where l.id = ${id}`,
        );
        // The log travels in the event (`snapshot`, time logs are never edited): WatchTasks shows it even
        // after a later delete.
        await insertTaskEvent(
          em,
          input.taskId,
          "task.time_log",
          { action: "created", timeLogId: id, hours: input.hours, actualHours, snapshot: rows[0] },
          ctx,
        );
        return {
          result: { kind: "ok", timeLog: rows[0] ? timeLogRow(rows[0]) : null, actualHours },
          resourceId: id,
        };
      },
    });
  }

  async delete(taskId: string, id: string, ctx: TaskEventContext): Promise<TimeLogWriteOutcome> {
    return this.em.transactional(async (em) => {
      const task = await loadTask(em, taskId, true);
      if (task === null) return { kind: "not_found" as const };
      const deleted = await query(
        em,
        sql<Row>`delete from task_time_logs l where l.task_id = ${taskId} and l.id = ${id} returning ${sql.raw(SELECT)}`,
      );
      if (deleted.length === 0) return { kind: "not_found" as const };
      const actualHours = await this.recompute(em, taskId);
      // The deleted log travels in the event (`snapshot`): WatchTasks cannot read it back afterwards.
      await insertTaskEvent(
        em,
        taskId,
        "task.time_log",
        {
          action: "deleted",
          timeLogId: id,
          hours: Number(deleted[0]?.hours),
          actualHours,
          snapshot: deleted[0],
        },
        ctx,
      );
      return { kind: "ok" as const, timeLog: null, actualHours };
    });
  }

  async taskExists(id: string): Promise<boolean> {
    return (await query(this.em, sql`select 1 from tasks where id = ${id}`)).length > 0;
  }

  async sprintExists(id: string): Promise<boolean> {
    return (await query(this.em, sql`select 1 from sprints where id = ${id}`)).length > 0;
  }

  /** One page of logs of a task (or of all tasks when `taskId` is null). */
  async list(opts: {
    taskId: string | null;
    pageSize: number;
    pageToken: string | null;
    order: TimeLogOrderField;
    descending: boolean;
    conditions: readonly FilterCondition[];
    binding: string;
  }): Promise<{ items: TimeLogRow[]; nextPageToken: string | null }> {
    const where: RawBuilder<unknown>[] = [];
    if (opts.taskId !== null) where.push(sql`l.task_id = ${opts.taskId}`);
    where.push(...conditionsSql(opts.conditions, TIME_LOG_FILTER_COLUMNS));
    const order = ORDER[opts.order];
    const column = sql.raw(order.column);
    if (opts.pageToken !== null) {
      const pos = decodeKeysetToken(
        opts.pageToken,
        "k1",
        bindingDigest(opts.binding),
        tokenField.matching(order.keyPattern),
      );
      where.push(
        sql`(${column}, l.id) ${sql.raw(opts.descending ? "<" : ">")} (${order.param(pos.key)}, ${pos.id}::uuid)`,
      );
    }
    const dir = sql.raw(opts.descending ? "desc" : "asc");
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(SELECT)}, ${sql.raw(order.key)} as cursor_key from task_time_logs l
       where ${allOf(where)}
       order by ${column} ${dir}, l.id ${dir} limit ${opts.pageSize + 1}::int`,
    );
    return keysetPage(rows, opts.pageSize, timeLogRow, {
      tag: "k1",
      binding: bindingDigest(opts.binding),
      keyColumn: "cursor_key",
    });
  }

  /** Sums over [startDate, endDate] (inclusive dates): the overall row first, then groups by hours desc. */
  async summarize(opts: {
    startDate: string | null;
    endDate: string;
    users: readonly string[];
    sprintId: string | null;
    taskConditions: readonly FilterCondition[];
    billableOnly: boolean;
    groupBy: TimeLogGroupColumn | null;
  }): Promise<SummaryRow[]> {
    const where = [sql`l.log_date <= ${opts.endDate}::date`, sql`t.deleted_at is null`];
    if (opts.startDate !== null) where.push(sql`l.log_date >= ${opts.startDate}::date`);
    if (opts.users.length > 0) where.push(sql`l.user_id = any(${opts.users}::text[])`);
    if (opts.sprintId !== null) where.push(sql`l.sprint_id = ${opts.sprintId}::uuid`);
    if (opts.billableOnly) where.push(sql`l.is_billable`);
    where.push(...conditionsSql(opts.taskConditions, TASK_FILTER_COLUMNS));
    const select = (key: RawBuilder<unknown>) =>
      sql<Row>`select ${key} as group_key, coalesce(sum(l.hours), 0)::float8 as hours,
         coalesce(sum(l.hours) filter (where l.is_billable), 0)::float8 as billable_hours, count(*)::int as entry_count
       from task_time_logs l join tasks t on t.id = l.task_id where ${allOf(where)}`;
    const toRow = (r: Record<string, unknown>, key: string): SummaryRow => ({
      groupKey: key,
      hours: Number(r.hours),
      billableHours: Number(r.billable_hours),
      entryCount: Number(r.entry_count),
    });
    const overall = await query(this.em, select(sql`''`));
    const out: SummaryRow[] = [
      overall[0] ? toRow(overall[0], "") : { groupKey: "", hours: 0, billableHours: 0, entryCount: 0 },
    ];
    if (opts.groupBy !== null) {
      const key =
        opts.groupBy === "log_date"
          ? sql`to_char(l.log_date, 'YYYY-MM-DD')`
          : sql`coalesce(${sql.ref(`l.${opts.groupBy}`)}::text, '-')`;
      const groups = await query(this.em, sql<Row>`${select(key)} group by 1 order by 2 desc, 1`);
      for (const r of groups) out.push(toRow(r, String(r.group_key)));
    }
    return out;
  }
}
