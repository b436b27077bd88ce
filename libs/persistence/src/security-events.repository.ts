/**
 * Security events (`security_events`): a recorder that never stores secrets (every detail goes through the
 * masking policy, strings are truncated, the offending value itself is never a parameter), and the read side
 * of AuditService.ListSecurityEvents / GetSecurityEvent. `detail` keeps the gateway's shape
 * (`{reason, rpc, ...}`) plus `user_agent`, `request_id`, `trace_id` and free-form extra keys.
 */
import type { EntityManager } from "@mikro-orm/core";
import { maskObject, maskValue } from "@taskmaster/config/masking";
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from "kysely";
import { conditionsSql } from "./filter-sql.js";
import { newId } from "./ids.js";
import type { CompareOp } from "./list-page.js";
import { bindingDigest, decodeKeysetToken, keysetPage, tokenField } from "./page-token.js";
import { allOf, type RawBuilder, query as run, sql } from "./sql-toolkit.js";
import type { SecurityEventKind } from "./value-sets.js";

export type { SecurityEventKind };

export interface SecurityEventInput {
  kind: SecurityEventKind;
  /** Short machine reason (`jwt_expired`, `sql_metachar_in_id`, ...). */
  reason: string;
  /** Caller subject, when known. Never a token. */
  identity?: string | null | undefined;
  ip?: string | null | undefined;
  rpcMethod?: string | null | undefined;
  userAgent?: string | null | undefined;
  requestId?: string | null | undefined;
  traceId?: string | null | undefined;
  /** Extra details (field names, lengths): masked and size-bounded before storing. */
  details?: Record<string, unknown> | undefined;
}

export interface SecurityEventRow {
  id: string;
  kind: SecurityEventKind;
  reason: string;
  identity: string | null;
  ip: string | null;
  rpcMethod: string | null;
  userAgent: string | null;
  requestId: string | null;
  traceId: string | null;
  details: Record<string, unknown>;
  occurredAt: Date;
}

const KNOWN_DETAIL_KEYS = new Set(["reason", "rpc", "user_agent", "request_id", "trace_id"]);
const IP_RE = /^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-fA-F:.]{2,45})$/;

function clip(value: string | null | undefined, max: number): string | null {
  if (value === null || value === undefined || value === "") return null;
  const masked = maskValue(value);
  return masked.length > max ? masked.slice(0, max) : masked;
}

/** Bounded, masked copy of extra details: at most 20 keys, strings at most 200 characters. */
function boundedDetails(details: Record<string, unknown> | undefined): Record<string, unknown> {
  if (details === undefined) return {};
  const masked = maskObject(details) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(masked).slice(0, 20)) {
    if (KNOWN_DETAIL_KEYS.has(k)) continue;
    if (typeof v === "string") out[k.slice(0, 64)] = v.length > 200 ? `${v.slice(0, 200)}…` : v;
    else if (typeof v === "number" || typeof v === "boolean" || v === null) out[k.slice(0, 64)] = v;
    else out[k.slice(0, 64)] = JSON.stringify(v).slice(0, 200);
  }
  return out;
}

/** The `security_events` row as written (`detail` is stored as jsonb). */
export interface SecurityEventInsert {
  id: string;
  kind: SecurityEventKind;
  identity: string | null;
  ip: string | null;
  detail: Record<string, unknown>;
}

function insertStatement(row: SecurityEventInsert): RawBuilder<unknown> {
  return sql`insert into security_events (id, kind, identity, ip, detail)
    values (${row.id}::uuid, ${row.kind}, ${row.identity}, ${row.ip}::inet, ${JSON.stringify(row.detail)}::jsonb)`;
}

/** Inserts one security event; returns its id. */
export async function recordSecurityEvent(em: EntityManager, event: SecurityEventInput): Promise<string> {
  const id = newId();
  const detail: Record<string, unknown> = {
    reason: clip(event.reason, 64) ?? "unspecified",
    ...boundedDetails(event.details),
  };
  const rpc = clip(event.rpcMethod, 255);
  if (rpc !== null) detail.rpc = rpc;
  const ua = clip(event.userAgent, 500);
  if (ua !== null) detail.user_agent = ua;
  const requestId = clip(event.requestId, 255);
  if (requestId !== null) detail.request_id = requestId;
  const traceId = clip(event.traceId, 64);
  if (traceId !== null) detail.trace_id = traceId;
  const ip = event.ip !== null && event.ip !== undefined && IP_RE.test(event.ip) ? event.ip : null;
  const row = { id, kind: event.kind, identity: clip(event.identity, 255), ip, detail };
  await run(em, insertStatement(row)).catch(async (err: unknown) => {
    // An unparsable address must not lose the event.
    if (ip === null) throw err;
    await run(em, insertStatement({ ...row, ip: null }));
  });
  return id;
}

/** A `pg` pool or client: runs a statement text with `$n` placeholders and its values. */
export interface PgQueryable {
  query(text: string, values: unknown[]): Promise<unknown>;
}

/** Compiles statements for PostgreSQL without a connection (for {@link insertSecurityEventRow}). */
const POSTGRES = new Kysely<unknown>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/**
 * Inserts one `security_events` row as given (no masking, no fallback) with one `query` on `db`, a `pg` pool
 * of its own outside MikroORM (the gateway's recorder); rejects with the driver's error.
 */
export async function insertSecurityEventRow(db: PgQueryable, row: SecurityEventInsert): Promise<void> {
  const compiled = insertStatement(row).compile(POSTGRES);
  await db.query(compiled.sql, [...compiled.parameters]);
}

export type SecurityFilterField =
  | "kind"
  | "reason"
  | "actor.subject"
  | "client_ip"
  | "rpc_method"
  | "event_time";

export interface SecurityCondition {
  field: SecurityFilterField;
  op: CompareOp;
  value: string | number | Date | null;
}

export interface SecurityListQuery {
  conditions: readonly SecurityCondition[];
  start?: Date | undefined;
  end?: Date | undefined;
  pageSize: number;
  pageToken: string | null;
  desc: boolean;
  binding: string;
}

const COLUMNS: Record<SecurityFilterField, { expr: string; cast: string }> = {
  kind: { expr: "x.kind", cast: "text" },
  reason: { expr: "(x.detail->>'reason')", cast: "text" },
  "actor.subject": { expr: "x.identity", cast: "text" },
  client_ip: { expr: "host(x.ip)", cast: "text" },
  rpc_method: { expr: "(x.detail->>'rpc')", cast: "text" },
  event_time: { expr: "x.occurred_at", cast: "timestamptz" },
};
const OPS: readonly CompareOp[] = ["=", "!=", "<", "<=", ">", ">="];
const KEY_EXPR = `to_char(x.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const SELECT = sql.raw(`x.id, x.kind, x.identity, host(x.ip) as ip, x.detail, x.occurred_at`);

type Raw = Record<string, unknown>;
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function toRow(r: Raw): SecurityEventRow {
  const detail = (typeof r.detail === "string" ? JSON.parse(r.detail) : (r.detail ?? {})) as Raw;
  const details: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(detail)) if (!KNOWN_DETAIL_KEYS.has(k)) details[k] = v;
  return {
    id: String(r.id),
    kind: String(r.kind) as SecurityEventKind,
    reason: str(detail.reason) ?? "",
    identity: str(r.identity),
    ip: str(r.ip),
    rpcMethod: str(detail.rpc),
    userAgent: str(detail.user_agent),
    requestId: str(detail.request_id),
    traceId: str(detail.trace_id),
    details,
    occurredAt: r.occurred_at instanceof Date ? r.occurred_at : new Date(String(r.occurred_at)),
  };
}

/** One page of security events, ordered by event time (then id). */
export async function listSecurityEvents(
  em: EntityManager,
  query: SecurityListQuery,
): Promise<{ items: SecurityEventRow[]; nextPageToken: string | null }> {
  for (const c of query.conditions) if (!OPS.includes(c.op)) throw new Error(`unsupported operator ${c.op}`);
  const where = conditionsSql(query.conditions, COLUMNS);
  if (query.start !== undefined) where.push(sql`x.occurred_at >= ${query.start.toISOString()}::timestamptz`);
  if (query.end !== undefined) where.push(sql`x.occurred_at < ${query.end.toISOString()}::timestamptz`);
  const desc = query.desc;
  if (query.pageToken) {
    const cursor = decodeKeysetToken(
      query.pageToken,
      "s1",
      bindingDigest(query.binding),
      tokenField.isoMicros,
    );
    where.push(
      sql`(x.occurred_at, x.id) ${sql.raw(desc ? "<" : ">")} (${cursor.key}::timestamptz, ${cursor.id}::uuid)`,
    );
  }
  const pageSize = Math.min(Math.max(Math.trunc(query.pageSize), 1), 1000);
  const dir = sql.raw(desc ? "desc" : "asc");
  const rows = await run(
    em,
    sql<Raw>`select ${SELECT}, ${sql.raw(KEY_EXPR)} as page_key from security_events x
       where ${allOf(where)}
       order by x.occurred_at ${dir}, x.id ${dir} limit ${pageSize + 1}::int`,
  );
  return keysetPage(rows, pageSize, toRow, { tag: "s1", binding: bindingDigest(query.binding) });
}

/** One security event by id, or null. */
export async function getSecurityEvent(em: EntityManager, id: string): Promise<SecurityEventRow | null> {
  const rows = await run(em, sql<Raw>`select ${SELECT} from security_events x where x.id = ${id}::uuid`);
  return rows[0] === undefined ? null : toRow(rows[0]);
}
