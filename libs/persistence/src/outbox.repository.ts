/**
 * Reading the transactional outbox for WatchTasks: catch-up queries by id, gap detection (ids are taken
 * before commit, so a later id can become visible before an earlier one) and one shared LISTEN connection.
 */
import type { EntityManager } from "@mikro-orm/core";
import type { MikroORM } from "@mikro-orm/postgresql";
import pg from "pg";
import { COMMENT_SELECT, type CommentRow, commentRow } from "./comment.repository.js";
import { OUTBOX_NOTIFY_CHANNEL } from "./entities/outbox-event.entity.js";
import { query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import { TASK_SELECT_LIST, type TaskRow, taskRowFromDb } from "./task.repository.js";
import { TIME_LOG_SELECT, type TimeLogRow, timeLogRow } from "./time-log.repository.js";

export interface OutboxEventRow {
  /** bigint id as a decimal string: the resume token and sequence. */
  id: string;
  /** Stable UUID derived from the id (the same event always carries the same one). */
  eventId: string;
  /** "task" for task events; other aggregates share the id sequence and are skipped by watchers. */
  aggregateType: string;
  taskId: string;
  kind: string;
  payload: Record<string, unknown>;
  actor: string | null;
  requestId: string | null;
  traceId: string | null;
  createdAt: Date;
  /** The task as it is now (null if it was hard-deleted). */
  task: TaskRow | null;
  /** Whether the task (as it is now) matches the filter passed to readAfter. */
  matchesFilter: boolean;
  /** For `task.comment` events: the comment as it is now (soft-deleted ones included), else null. */
  comment: CommentRow | null;
  /** For `task.time_log` events: the time log the event carried (snapshot), else as it is now; null when gone. */
  timeLog: TimeLogRow | null;
}

const idIn = (payload: Record<string, unknown>, key: string): string | null => {
  const v = payload[key];
  return typeof v === "string" && /^[0-9a-f-]{36}$/i.test(v) ? v : null;
};

export interface OutboxBatch {
  rows: OutboxEventRow[];
  /** Transactions in progress when the batch was read (PostgreSQL xid8 values as strings). */
  inFlight: string[];
}

export class OutboxRepository {
  constructor(private readonly em: EntityManager) {}

  /** Highest id present, "0" when the outbox is empty. */
  async latestId(): Promise<string> {
    const rows = await query(this.em, sql<Row>`select coalesce(max(id), 0)::text as id from outbox_events`);
    return String(rows[0]?.id ?? "0");
  }

  /**
   * Highest event id ever deleted from the outbox (retention), "0" if none: kept by a trigger on delete, so
   * unlike the oldest kept id or the id sequence it is not fooled by uncommitted inserts or rolled-back ids.
   */
  async prunedThrough(): Promise<string> {
    const rows = await query(
      this.em,
      sql<Row>`select coalesce((select through_id from outbox_pruned), 0)::text as id`,
    );
    return String(rows[0]?.id ?? "0");
  }

  /**
   * Task events with id > `afterId`, in id order, with the current task row, plus the transactions in
   * progress at the time of the read (one statement, so one snapshot). `filter` is a condition over the
   * `tasks t` alias.
   */
  async readAfter(
    afterId: string,
    limit: number,
    filter: RawBuilder<unknown> | null = null,
  ): Promise<OutboxBatch> {
    const rows = await query(
      this.em,
      sql<Row>`with snap as (select array(
              select x::text from pg_snapshot_xip(pg_current_snapshot()) x
              -- transactions of other databases cannot write this outbox (kept when unknown)
              where not exists (select 1 from pg_stat_activity a
                                where a.backend_xid::text = (x::text::numeric % 4294967296)::text
                                  and a.datname is distinct from current_database())) as xip),
            ev as (select * from outbox_events where id > ${afterId}::bigint order by id limit ${limit}::int)
       select snap.xip as in_flight, ev.id::text as event_seq,
              md5('taskmaster-outbox:' || ev.id::text)::uuid::text as event_uuid,
              ev.aggregate_type as event_aggregate_type, ev.aggregate_id::text as event_task_id,
              ev.event_kind, ev.payload as event_payload, ev.actor as event_actor,
              ev.request_id as event_request_id, ev.trace_id as event_trace_id,
              ev.created_at as event_created_at, (t.id is not null) as has_task,
              ${filter === null ? sql`true` : sql`coalesce((${filter}), false)`} as filter_match, ${sql.raw(TASK_SELECT_LIST)}
       from snap
       left join ev on true
       left join tasks t on ev.aggregate_type = 'task' and t.id = ev.aggregate_id
       order by ev.id`,
    );
    const inFlight = (rows[0]?.in_flight as string[] | undefined) ?? [];
    const out: OutboxEventRow[] = [];
    for (const r of rows) {
      if (r.event_seq === null || r.event_seq === undefined) continue;
      out.push({
        id: String(r.event_seq),
        eventId: String(r.event_uuid),
        aggregateType: String(r.event_aggregate_type),
        taskId: String(r.event_task_id),
        kind: String(r.event_kind),
        payload: (r.event_payload as Record<string, unknown>) ?? {},
        actor: (r.event_actor as string | null) ?? null,
        requestId: (r.event_request_id as string | null) ?? null,
        traceId: (r.event_trace_id as string | null) ?? null,
        createdAt:
          r.event_created_at instanceof Date ? r.event_created_at : new Date(String(r.event_created_at)),
        task: r.has_task === true ? taskRowFromDb(r) : null,
        matchesFilter: r.filter_match === true,
        comment: null,
        timeLog: null,
      });
    }
    await this.attachSubResources(out);
    return { rows: out, inFlight };
  }

  /** Fills `comment` / `timeLog` of a batch's comment and time-log events: one query per kind, not per event. */
  private async attachSubResources(rows: OutboxEventRow[]): Promise<void> {
    const commentIds = new Set<string>();
    const timeLogIds = new Set<string>();
    for (const row of rows) {
      const commentId = row.kind === "task.comment" ? idIn(row.payload, "commentId") : null;
      if (commentId !== null) commentIds.add(commentId);
      const timeLogId =
        row.kind === "task.time_log" && row.payload.snapshot === undefined
          ? idIn(row.payload, "timeLogId")
          : null;
      if (timeLogId !== null) timeLogIds.add(timeLogId);
    }
    const comments = new Map<string, CommentRow>();
    if (commentIds.size > 0) {
      const found = await query(
        this.em,
        sql<Row>`select ${sql.raw(COMMENT_SELECT)} from task_comments c where c.id = any(${[...commentIds]}::uuid[])`,
      );
      for (const r of found) comments.set(String(r.id), commentRow(r));
    }
    const timeLogs = new Map<string, TimeLogRow>();
    if (timeLogIds.size > 0) {
      const found = await query(
        this.em,
        sql<Row>`select ${sql.raw(TIME_LOG_SELECT)} from task_time_logs l where l.id = any(${[...timeLogIds]}::uuid[])`,
      );
      for (const r of found) timeLogs.set(String(r.id), timeLogRow(r));
    }
    for (const row of rows) {
      if (row.kind === "task.comment") {
        const id = idIn(row.payload, "commentId");
        row.comment = id === null ? null : (comments.get(id) ?? null);
      } else if (row.kind === "task.time_log") {
        const id = idIn(row.payload, "timeLogId");
        const snapshot = row.payload.snapshot;
        // The event's own snapshot first (newer rows carry one); the row as it is now for older events.
        row.timeLog =
          typeof snapshot === "object" && snapshot !== null && !Array.isArray(snapshot)
            ? timeLogRow(snapshot as Record<string, unknown>)
            : ((id === null ? null : timeLogs.get(id)) ?? null);
      }
    }
  }

  /** True when none of the given transactions is still in progress. */
  async allFinished(xids: string[]): Promise<boolean> {
    if (xids.length === 0) return true;
    const rows = await query(
      this.em,
      sql<Row>`select coalesce(bool_and(pg_xact_status(x::xid8) is distinct from 'in progress'), true) as done
       from unnest(${xids}::text[]) x`,
    );
    return rows[0]?.done === true;
  }
}

/**
 * One LISTEN connection shared by every watcher of a server, opened on the first subscription and closed
 * when the last one leaves (so an idle or shut-down server holds no extra connection).
 */
export class OutboxListener {
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private readonly subscribers = new Set<() => void>();

  constructor(
    private readonly orm: MikroORM,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  /** Calls `onNotify` on every outbox insert until the returned function is called. */
  async subscribe(onNotify: () => void): Promise<() => void> {
    this.subscribers.add(onNotify);
    try {
      await this.ensureConnected();
    } catch (error) {
      this.subscribers.delete(onNotify);
      throw error;
    }
    return () => {
      this.subscribers.delete(onNotify);
      if (this.subscribers.size === 0) void this.disconnect();
    };
  }

  private ensureConnected(): Promise<void> {
    if (this.client !== null) return Promise.resolve();
    if (this.connecting !== null) return this.connecting;
    const config = this.orm.config;
    const driverOptions = (config.get("driverOptions") ?? {}) as Record<string, unknown>;
    const client = new pg.Client({
      connectionString: config.get("clientUrl"),
      ...(driverOptions.ssl !== undefined && { ssl: driverOptions.ssl as pg.ClientConfig["ssl"] }),
      application_name: `${String(driverOptions.application_name ?? "taskmaster")}-listen`.slice(0, 63),
    });
    client.on("notification", () => {
      for (const s of this.subscribers) s();
    });
    client.on("error", (error) => {
      this.onError(error);
      // Drop the broken connection; wake everyone so they re-read and re-subscribe on their next wait.
      if (this.client === client) this.client = null;
      for (const s of this.subscribers) s();
    });
    this.connecting = (async () => {
      try {
        await client.connect();
        await client.query(`listen ${OUTBOX_NOTIFY_CHANNEL}`);
        this.client = client;
      } catch (error) {
        await client.end().catch(() => {});
        throw error;
      } finally {
        this.connecting = null;
      }
    })();
    return this.connecting;
  }

  private async disconnect(): Promise<void> {
    const pending = this.connecting;
    if (pending) await pending.catch(() => {});
    if (this.subscribers.size > 0 || this.client === null) return;
    const client = this.client;
    this.client = null;
    await client.end().catch(() => {});
  }

  /** True while the LISTEN connection is open (tests). */
  get connected(): boolean {
    return this.client !== null;
  }
}
