/**
 * Read side of the audit trail (`audit_log`, plain or partitioned: the same columns) and the on-demand
 * retention call. Plain rows out; Kysely `sql` templates (sql-toolkit.ts); filter fields come from a fixed map.
 * Rows are read as `to_jsonb(x)` so columns another migration adds (`rpc_method`, `session_id`,
 * `actor_type`) are picked up when present without breaking when absent.
 */
import type { EntityManager } from "@mikro-orm/core";
import { dropExpiredAudit } from "./audit-maintenance.repository.js";
import { conditionsSql } from "./filter-sql.js";
import type { CompareOp } from "./list-page.js";
import { bindingDigest, decodeKeysetToken, keysetPage, tokenField } from "./page-token.js";
import { allOf, type RawBuilder, query as run, sql } from "./sql-toolkit.js";

export interface AuditRow {
  id: string;
  /** bigint as a decimal string. */
  seq: string;
  entityType: string;
  entityId: string;
  action: string;
  changedFields: string[];
  oldValues: Record<string, unknown> | null;
  newValues: Record<string, unknown> | null;
  actor: string | null;
  actorType: string | null;
  rpcMethod: string | null;
  requestId: string | null;
  traceId: string | null;
  clientIp: string | null;
  userAgent: string | null;
  sessionId: string | null;
  occurredAt: Date;
  prevHash: string | null;
  hash: string | null;
}

export type AuditFilterField =
  | "entity_type"
  | "entity"
  | "action"
  | "actor.subject"
  | "actor.type"
  | "request_id"
  | "trace_id"
  | "rpc_method"
  | "event_time";

export type AuditOrderField = "event_time" | "sequence";

export interface AuditCondition {
  field: AuditFilterField;
  op: CompareOp;
  value: string | number | Date | null;
}

export interface AuditQuery {
  conditions: readonly AuditCondition[];
  /** Inclusive. */
  start?: Date | undefined;
  /** Exclusive. */
  end?: Date | undefined;
}

export interface AuditListQuery extends AuditQuery {
  pageSize: number;
  pageToken: string | null;
  orderBy: { field: AuditOrderField; desc: boolean };
  /** Every other request field the page token is bound to. */
  binding: string;
}

type Raw = Record<string, unknown>;

/** Actor type when no `actor_type` column exists: "system" (or none), a person (has "@"), else a service. */
const ACTOR_TYPE_EXPR = `coalesce(to_jsonb(x)->>'actor_type', case when x.actor is null or x.actor = 'system' then 'system' when x.actor like '%@%' then 'user' else 'service' end)`;

const COLUMNS: Record<Exclude<AuditFilterField, "entity">, { expr: string; cast: string }> = {
  entity_type: { expr: "x.entity_type", cast: "text" },
  action: { expr: "x.action", cast: "text" },
  "actor.subject": { expr: "x.actor", cast: "text" },
  "actor.type": { expr: ACTOR_TYPE_EXPR, cast: "text" },
  request_id: { expr: "x.request_id", cast: "text" },
  trace_id: { expr: "x.trace_id", cast: "text" },
  rpc_method: { expr: "(to_jsonb(x)->>'rpc_method')", cast: "text" },
  event_time: { expr: "x.occurred_at", cast: "timestamptz" },
};

const OPS: readonly CompareOp[] = ["=", "!=", "<", "<=", ">", ">="];
const SORT = {
  event_time: {
    expr: "x.occurred_at",
    key: `to_char(x.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
    cast: "timestamptz",
  },
  sequence: { expr: "x.seq", key: "x.seq::text", cast: "bigint" },
} as const;

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const obj = (v: unknown): Record<string, unknown> | null =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;

function toRow(raw: Raw): AuditRow {
  const r = (typeof raw.row === "string" ? JSON.parse(raw.row) : raw.row) as Raw;
  return {
    id: String(r.id),
    seq: String(raw.seq_text ?? r.seq),
    entityType: String(r.entity_type),
    entityId: String(r.entity_id),
    action: String(r.action),
    changedFields: Array.isArray(r.changed_fields) ? r.changed_fields.map(String) : [],
    oldValues: obj(r.old_values),
    newValues: obj(r.new_values),
    actor: str(r.actor),
    actorType: str(raw.actor_type),
    rpcMethod: str(r.rpc_method),
    requestId: str(r.request_id),
    traceId: str(r.trace_id),
    clientIp: str(r.client_ip),
    userAgent: str(r.user_agent),
    sessionId: str(r.session_id),
    occurredAt: date(r.occurred_at),
    prevHash: str(r.prev_hash),
    hash: str(r.hash),
  };
}

const SELECT = sql.raw(`to_jsonb(x) as row, x.seq::text as seq_text, ${ACTOR_TYPE_EXPR} as actor_type, x.id`);

function whereOf(query: AuditQuery): RawBuilder<unknown>[] {
  const where: RawBuilder<unknown>[] = [];
  for (const c of query.conditions) {
    if (!OPS.includes(c.op)) throw new Error(`unsupported operator ${c.op}`);
    if (c.field === "entity") {
      if (c.op !== "=" && c.op !== "!=") throw new Error("entity only compares with = or !=");
      // Stored either as the bare id or as the full resource name.
      const full = String(c.value);
      const id = full.slice(full.lastIndexOf("/") + 1);
      where.push(
        sql`${sql.raw(c.op === "!=" ? "not " : "")}(x.entity_id = ${full}::text or x.entity_id = ${id}::text)`,
      );
      continue;
    }
    where.push(...conditionsSql([c], COLUMNS));
  }
  if (query.start !== undefined) where.push(sql`x.occurred_at >= ${query.start.toISOString()}::timestamptz`);
  if (query.end !== undefined) where.push(sql`x.occurred_at < ${query.end.toISOString()}::timestamptz`);
  return where;
}

/** One page of audit rows. Throws InvalidPageTokenError (page-token.ts) for a foreign or malformed token. */
export async function listAuditEvents(
  em: EntityManager,
  query: AuditListQuery,
): Promise<{ items: AuditRow[]; nextPageToken: string | null }> {
  const where = whereOf(query);
  const sort = SORT[query.orderBy.field];
  const desc = query.orderBy.desc;
  if (query.pageToken) {
    const cursor = decodeKeysetToken(
      query.pageToken,
      "a1",
      bindingDigest(query.binding),
      query.orderBy.field === "sequence" ? tokenField.matching(/^[0-9]{1,19}$/) : tokenField.isoMicros,
    );
    where.push(
      sql`(${sql.raw(sort.expr)}, x.id) ${sql.raw(desc ? "<" : ">")} (${cursor.key}::${sql.raw(sort.cast)}, ${cursor.id}::uuid)`,
    );
  }
  const pageSize = Math.min(Math.max(Math.trunc(query.pageSize), 1), 1000);
  const dir = sql.raw(desc ? "desc" : "asc");
  const rows = await run(
    em,
    sql<Raw>`select ${SELECT}, ${sql.raw(sort.key)} as page_key from audit_log x
       where ${allOf(where)}
       order by ${sql.raw(sort.expr)} ${dir}, x.id ${dir} limit ${pageSize + 1}::int`,
  );
  return keysetPage(rows, pageSize, toRow, { tag: "a1", binding: bindingDigest(query.binding) });
}

/** One audit row by id, or null. */
export async function getAuditEvent(em: EntityManager, id: string): Promise<AuditRow | null> {
  const rows = await run(em, sql<Raw>`select ${SELECT} from audit_log x where x.id = ${id}::uuid`);
  return rows[0] === undefined ? null : toRow(rows[0]);
}

/**
 * Every matching row in sequence order, read in batches of `batchSize` (keyset on `seq`, so concurrent
 * inserts never shift a batch). Stops early when `signal` aborts.
 */
export async function* exportAuditEvents(
  em: EntityManager,
  query: AuditQuery,
  options: { batchSize?: number; signal?: AbortSignal } = {},
): AsyncGenerator<AuditRow[]> {
  const batchSize = Math.min(Math.max(options.batchSize ?? 500, 1), 5000);
  let after: string | null = null;
  for (;;) {
    if (options.signal?.aborted === true) return;
    const where = whereOf(query);
    if (after !== null) where.push(sql`x.seq > ${after}::bigint`);
    const rows = await run(
      em,
      sql<Raw>`select ${SELECT} from audit_log x where ${allOf(where)} order by x.seq asc limit ${batchSize}::int`,
    );
    if (rows.length === 0) return;
    const batch = rows.map(toRow);
    yield batch;
    if (rows.length < batchSize) return;
    after = (batch.at(-1) as AuditRow).seq;
  }
}

export interface RetentionResult {
  cutoffTime: Date;
  droppedPartitions: string[];
  removedRowCount: bigint;
  createdPartitions: string[];
  ran: boolean;
}

export type RetentionOutcome =
  | { kind: "ok"; result: RetentionResult }
  | { kind: "missing"; missing: string; description: string };

/** A range `audit_drop_expired` removed: a month partition, or `audit_log_default` for stray expired rows. */
export interface RemovedAuditRange {
  readonly partition: string;
  readonly rows: bigint | number;
}

/** The result of a retention run from the ranges it removed (stray default-partition rows are not a partition). */
export function retentionResult(cutoff: Date, removed: readonly RemovedAuditRange[]): RetentionResult {
  return {
    cutoffTime: cutoff,
    droppedPartitions: removed.map((r) => r.partition).filter((p) => p !== "audit_log_default"),
    removedRowCount: removed.reduce((sum, r) => sum + BigInt(r.rows), 0n),
    createdPartitions: [],
    ran: true,
  };
}

/**
 * Runs `audit_drop_expired(days)`; with `dryRun`, answers what it would remove (expired month partitions from
 * the catalog, plus stray expired rows of the default partition) without dropping anything. "missing" when
 * the function does not exist.
 */
export async function runAuditRetention(
  em: EntityManager,
  days: number,
  dryRun: boolean,
  now: Date = new Date(),
): Promise<RetentionOutcome> {
  const installed = await run(
    em,
    sql<Raw>`select to_regprocedure('audit_drop_expired(integer)') is not null as installed`,
  );
  if (installed[0]?.installed !== true) {
    return {
      kind: "missing",
      missing: "audit_drop_expired(days)",
      description:
        "the SQL function audit_drop_expired(days) does not exist (audit retention is not installed)",
    };
  }
  const cutoff = new Date(now.getTime() - days * 86_400_000);
  if (!dryRun) {
    return { kind: "ok", result: retentionResult(cutoff, await dropExpiredAudit(em, days)) };
  }
  const parts = await run(
    em,
    sql<Raw>`select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound
       from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = to_regclass('audit_log')`,
  );
  const expired: string[] = [];
  for (const p of parts) {
    const to = /TO \('([^']+)'\)/.exec(String(p.bound))?.[1];
    if (to !== undefined && new Date(to.replace(" ", "T").replace(/([+-]\d{2})$/, "$1:00")) <= cutoff) {
      expired.push(String(p.name));
    }
  }
  // Whole partitions only: rows of a month that is not entirely past the cutoff stay.
  const counts = await run(
    em,
    sql<Raw>`select a.tableoid::regclass::text as partition, count(*)::text as n from audit_log a
      where a.tableoid::regclass::text = any(${expired}::text[])
         or (a.tableoid = to_regclass('audit_log_default') and a.occurred_at < ${cutoff.toISOString()}::timestamptz)
      group by 1`,
  );
  const rowsOf = new Map(counts.map((c) => [String(c.partition), BigInt(String(c.n))]));
  const removed = [...expired, ...(rowsOf.has("audit_log_default") ? ["audit_log_default"] : [])]
    .sort()
    .map((partition) => ({ partition, rows: rowsOf.get(partition) ?? 0n }));
  return { kind: "ok", result: retentionResult(cutoff, removed) };
}
