/**
 * Keyset paging over one sort key (plus `id` as tie-breaker) with whitelisted comparison conditions, for the
 * planning and relationship repositories. Callers name fields; only this module turns them into SQL, from a
 * fixed column map, and every value travels as a bind parameter.
 */
import { createHash } from "node:crypto";
import type { EntityManager } from "@mikro-orm/core";
import { renderConditions } from "./filter-sql.js";

/** A malformed page token, or one issued for a different query (map to INVALID_ARGUMENT). */
export class InvalidPageTokenError extends Error {
  constructor() {
    super("invalid page token");
    this.name = "InvalidPageTokenError";
  }
}

/** Who/what is making a change; recorded in the outbox. */
export interface WriteContext {
  actor?: string | null;
  /** Client `request_id` of a create: a retry with the same id returns the first result. */
  requestId?: string | null;
  traceId?: string | null;
}

export type CompareOp = "=" | "!=" | "<" | "<=" | ">" | ">=";

/** One `field op value` comparison; `null` with `=`/`!=` means `is null`/`is not null`. */
export interface Condition<F extends string> {
  field: F;
  op: CompareOp;
  value: string | number | Date | null;
}

export interface SortSpec<O extends string> {
  field: O;
  desc: boolean;
}

export interface ListQuery<F extends string, O extends string> {
  /** 1..1000. */
  pageSize: number;
  pageToken: string | null;
  conditions: readonly Condition<F>[];
  orderBy: SortSpec<O>;
  /** Every other request field the page token is bound to (a token from another query is refused). */
  binding: string;
}

export type SqlCast = "uuid" | "text" | "int" | "timestamptz";

/** A column usable in conditions/ordering: a SQL expression over the alias `x` and its type. */
export interface ColumnSpec {
  expr: string;
  cast: SqlCast;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string | null;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function bindingHash(binding: string): string {
  return createHash("sha256").update(binding).digest("base64url").slice(0, 16);
}

function encodeToken(binding: string, key: string, id: string): string {
  return Buffer.from(JSON.stringify(["k1", bindingHash(binding), key, id])).toString("base64url");
}

function decodeToken(token: string, binding: string): { key: string; id: string } {
  try {
    const v: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (
      Array.isArray(v) &&
      v.length === 4 &&
      v[0] === "k1" &&
      v[1] === bindingHash(binding) &&
      typeof v[2] === "string" &&
      v[2].length <= 300 &&
      typeof v[3] === "string" &&
      UUID_RE.test(v[3])
    ) {
      return { key: v[2], id: v[3] };
    }
  } catch {
    // fall through
  }
  throw new InvalidPageTokenError();
}

/**
 * Sort expressions are made null-free (nulls sort last ascending) so the row comparison of the keyset
 * predicate is total.
 */
function sortExpr(col: ColumnSpec): string {
  switch (col.cast) {
    case "timestamptz":
      return `coalesce(${col.expr}, 'infinity'::timestamptz)`;
    case "int":
      return `coalesce(${col.expr}, 2147483647)`;
    case "text":
      return `coalesce(${col.expr}, '')`;
    case "uuid":
      return `coalesce(${col.expr}, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)`;
  }
}

/**
 * Runs `select <selectList> from <from> where <baseWhere> and <conditions> and <keyset>` ordered by the sort
 * key then `x.id`, and returns one page of mapped rows. `from` must alias the paged table as `x`.
 */
export async function listPage<F extends string, O extends string, T>(
  em: EntityManager,
  spec: {
    selectList: string;
    from: string;
    baseWhere: string[];
    baseParams: unknown[];
    columns: Readonly<Record<F | O, ColumnSpec>>;
    map: (raw: Record<string, unknown>) => T;
  },
  query: ListQuery<F, O>,
): Promise<Page<T>> {
  const where = [...spec.baseWhere];
  const params = [...spec.baseParams];
  renderConditions(query.conditions, spec.columns, where, params);
  const sortCol = spec.columns[query.orderBy.field];
  const key = sortExpr(sortCol);
  const desc = query.orderBy.desc;
  if (query.pageToken) {
    const cursor = decodeToken(query.pageToken, query.binding);
    where.push(`(${key}, x.id) ${desc ? "<" : ">"} (?::${sortCol.cast}, ?::uuid)`);
    params.push(cursor.key, cursor.id);
  }
  const dir = desc ? "desc" : "asc";
  const pageSize = Math.min(Math.max(Math.trunc(query.pageSize), 1), 1000);
  params.push(pageSize + 1);
  const rows: Record<string, unknown>[] = await em.getConnection().execute(
    `select ${spec.selectList}, (${key})::text as page_key from ${spec.from}
       ${where.length ? `where ${where.join(" and ")}` : ""}
       order by ${key} ${dir}, x.id ${dir} limit ?`,
    params,
    "all",
    em.getTransactionContext(),
  );
  const page = rows.slice(0, pageSize);
  const last = page[page.length - 1];
  const nextPageToken =
    rows.length > pageSize && last
      ? encodeToken(query.binding, String(last.page_key), String(last.id))
      : null;
  return { items: page.map(spec.map), nextPageToken };
}
