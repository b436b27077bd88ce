/**
 * Keyset paging over one sort key (plus `id` as tie-breaker) with whitelisted comparison conditions, for the
 * planning and relationship repositories. Callers name fields; only this module turns them into SQL, from a
 * fixed column map, and every value travels as a bind parameter.
 */
import type { EntityManager } from "@mikro-orm/core";
import { conditionsSql } from "./filter-sql.js";
import { bindingDigest, decodeKeysetToken, keysetPage } from "./page-token.js";
import { allOf, type RawBuilder, query as run, sql } from "./sql-toolkit.js";

export { InvalidPageTokenError } from "./page-token.js";

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
 * Runs `select <selectList> from <from> where <where> and <conditions> and <keyset>` ordered by the sort key
 * then `x.id`, and returns one page of mapped rows. `selectList` and `from` are declared constants; `from`
 * must alias the paged table as `x`; `where` holds the caller's own condition fragments.
 */
export async function listKeysetPage<F extends string, O extends string, T>(
  em: EntityManager,
  spec: {
    selectList: string;
    from: string;
    where: readonly RawBuilder<unknown>[];
    columns: Readonly<Record<F | O, ColumnSpec>>;
    map: (raw: Record<string, unknown>) => T;
  },
  query: ListQuery<F, O>,
): Promise<Page<T>> {
  const where = [...spec.where, ...conditionsSql(query.conditions, spec.columns)];
  const sortCol = spec.columns[query.orderBy.field];
  const key = sql.raw(sortExpr(sortCol));
  const desc = query.orderBy.desc;
  const binding = bindingDigest(query.binding);
  if (query.pageToken) {
    const cursor = decodeKeysetToken(query.pageToken, "k1", binding);
    where.push(
      sql`(${key}, x.id) ${sql.raw(desc ? "<" : ">")} (${cursor.key}::${sql.raw(sortCol.cast)}, ${cursor.id}::uuid)`,
    );
  }
  const dir = sql.raw(desc ? "desc" : "asc");
  const pageSize = Math.min(Math.max(Math.trunc(query.pageSize), 1), 1000);
  const rows = await run(
    em,
    sql<Record<string, unknown>>`select ${sql.raw(spec.selectList)}, (${key})::text as page_key
       from ${sql.raw(spec.from)} where ${allOf(where)}
       order by ${key} ${dir}, x.id ${dir} limit ${pageSize + 1}`,
  );
  return keysetPage(rows, pageSize, spec.map, { tag: "k1", binding });
}
