/**
 * Task reads: by id (a prepared statement on the pool outside a transaction: GetTask's hot path), by ids,
 * by external reference, ancestors, children/subtree pages and ListTasks (multi-key keyset paging, page
 * tokens from page-token.ts bound to the request).
 */
import type { EntityManager } from "@mikro-orm/core";
import { bindingDigest, decodePageToken, encodePageToken, tokenField } from "./page-token.js";
import { allOf, prepared, query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import { TASK_SELECT_LIST, taskRowFromDb } from "./task-columns.js";
import {
  type ChildTaskPage,
  type ChildTasksOptions,
  EXACT_TOTAL_LIMIT,
  type ListTasksOptions,
  type TaskPage,
  type TaskReferenceKind,
  type TaskRow,
  type TaskSortField,
  type TaskSortKey,
} from "./task-model.js";
import { TASK_PRIORITIES, TASK_STATUSES, TASK_TYPES } from "./value-sets.js";

function rankSql(column: string, values: readonly string[]): string {
  return `array_position(array[${values.map((v) => `'${v}'`).join(", ")}]::text[], ${column}::text)`;
}

type SortKind = "int" | "text" | "ts";
interface SortSql {
  /** The sort expression for one direction (nullable columns put a sentinel so unset sorts last both ways). */
  expr: (desc: boolean) => string;
  kind: SortKind;
}
const fixed = (expr: string, kind: SortKind): SortSql => ({ expr: () => expr, kind });
/**
 * Unset values last in both directions (as NextTask does): the sentinel is above every value ascending and
 * below every value descending (-1: story points and business value are never negative).
 */
const unsetLast = (column: string, high: string, low: string, kind: SortKind): SortSql => ({
  expr: (desc) => `coalesce(${column}, ${desc ? low : high})`,
  kind,
});
const SORT_SQL: Record<TaskSortField, SortSql> = {
  priority: fixed(rankSql("t.priority", TASK_PRIORITIES), "int"),
  status: fixed(rankSql("t.status", TASK_STATUSES), "int"),
  type: fixed(rankSql("t.type", TASK_TYPES), "int"),
  create_time: fixed("t.created_at", "ts"),
  update_time: fixed("t.updated_at", "ts"),
  due_time: unsetLast(
    "t.due_date",
    "timestamptz '9999-12-31 00:00:00+00'",
    "timestamptz '0001-01-01 00:00:00+00'",
    "ts",
  ),
  story_points: unsetLast("t.story_points", "2147483647", "-1", "int"),
  business_value: unsetLast("t.business_value::int", "2147483647", "-1", "int"),
  title: fixed("t.title", "text"),
};

function sortSelect(field: TaskSortField, desc: boolean): string {
  const { expr, kind } = SORT_SQL[field];
  return kind === "ts" ? `(extract(epoch from ${expr(desc)}) * 1000000)::bigint::text` : `${expr(desc)}`;
}

/** A keyset cursor value bound as the sort expression's type (`ts` travels as epoch microseconds). */
function sortParam(kind: SortKind | "uuid", value: unknown): RawBuilder<unknown> {
  switch (kind) {
    case "ts":
      return sql`(timestamptz 'epoch' + ${value}::bigint * interval '1 microsecond')`;
    case "int":
      return sql`${value}::int`;
    case "text":
      return sql`${value}::text`;
    case "uuid":
      return sql`${value}::uuid`;
  }
}

interface PageCursor {
  keys: (string | number)[];
  id: string;
}

function encodeTaskPageToken(binding: string, c: PageCursor): string {
  return encodePageToken("t2", binding, [c.keys, c.id]);
}

function decodeTaskPageToken(token: string, binding: string, kinds: SortKind[]): PageCursor {
  const sortKeys = (v: unknown): boolean =>
    Array.isArray(v) &&
    v.length === kinds.length &&
    v.every((k, i) =>
      kinds[i] === "int"
        ? Number.isInteger(k)
        : kinds[i] === "ts"
          ? tokenField.micros(k)
          : tokenField.text(1000)(k),
    );
  const [keys, id] = decodePageToken(token, "t2", binding, [sortKeys, tokenField.uuid]);
  return { keys: keys as (string | number)[], id: id as string };
}

/** Path element of a depth-first walk: zero-padded creation microseconds, then the id (sorts like (created_at, id)). */
const PATH_ELEMENT_SQL =
  "lpad((extract(epoch from c.created_at) * 1000000)::bigint::text, 20, '0') || c.id::text";

/** A task by id (soft-deleted ones only with `includeDeleted`), or `null`. `id` must be a UUID. */
export async function getTaskById(
  em: EntityManager,
  id: string,
  opts: { includeDeleted?: boolean } = {},
): Promise<TaskRow | null> {
  const statement = sql<Row>`select ${sql.raw(TASK_SELECT_LIST)} from tasks t
    where t.id = ${id}${opts.includeDeleted ? sql`` : sql` and t.deleted_at is null`}`;
  const rows =
    em.getTransactionContext() === undefined
      ? await prepared(em, opts.includeDeleted ? "tm_task_by_id_any" : "tm_task_by_id_live", statement)
      : await query(em, statement);
  return rows[0] ? taskRowFromDb(rows[0]) : null;
}

/** Tasks by id (soft-deleted included), in the order of `ids` (duplicates repeated); missing ones are absent. */
export async function getTasks(em: EntityManager, ids: string[]): Promise<Map<string, TaskRow>> {
  const rows = await query(
    em,
    sql<Row>`select ${sql.raw(TASK_SELECT_LIST)} from tasks t where t.id = any(${[...new Set(ids)]}::uuid[])`,
  );
  return new Map(rows.map((r) => [String(r.id), taskRowFromDb(r)]));
}

/** The live task holding an external reference, or null. */
export async function lookupTask(
  em: EntityManager,
  kind: TaskReferenceKind,
  value: string,
): Promise<TaskRow | null> {
  const column = {
    externalId: "external_id",
    githubIssueUrl: "github_issue_url",
    githubPrUrl: "github_pr_url",
    linearIssueId: "linear_issue_id",
    jiraKey: "jira_key",
  }[kind];
  const rows = await query(
    em,
    sql<Row>`select ${sql.raw(TASK_SELECT_LIST)} from tasks t
      where ${sql.ref(`t.${column}`)} = ${value} and t.deleted_at is null limit 1`,
  );
  return rows[0] ? taskRowFromDb(rows[0]) : null;
}

/** Ancestors of a task, root first (at most 64 levels walked). */
export async function taskAncestors(em: EntityManager, id: string): Promise<TaskRow[]> {
  const rows = await query(
    em,
    sql<Row>`with recursive up as (
       select c.parent_id as id, 1 as lvl from tasks c where c.id = ${id} and c.parent_id is not null
       union all
       select p.parent_id, up.lvl + 1 from tasks p join up on p.id = up.id
       where p.parent_id is not null and up.lvl < 64
     )
     select ${sql.raw(TASK_SELECT_LIST)} from up join tasks t on t.id = up.id order by up.lvl desc`,
  );
  return rows.map(taskRowFromDb);
}

/** One page of a task's children, or of its whole subtree in depth-first pre-order. */
export async function listChildTasks(
  em: EntityManager,
  parentId: string,
  opts: ChildTasksOptions = {},
): Promise<ChildTaskPage> {
  const pageSize = Math.min(Math.max(Math.trunc(opts.pageSize ?? 50), 1), 1000);
  const live = opts.includeDeleted ? sql`` : sql` and c.deleted_at is null`;
  const binding = bindingDigest(
    `children|${parentId}|${opts.recursive ? 1 : 0}|${opts.includeDeleted ? 1 : 0}|${opts.binding ?? ""}`,
  );
  const where: RawBuilder<unknown>[] = [];
  if (opts.where) where.push(sql`(${opts.where})`);
  if (opts.pageToken) {
    const cursor = decodeTaskPageToken(opts.pageToken, binding, ["text"]);
    where.push(sql`sub.path > array(select jsonb_array_elements_text(${cursor.keys[0]}::jsonb))`);
  }
  const pathElement = sql.raw(PATH_ELEMENT_SQL);
  const rows = await query(
    em,
    sql<Row>`with recursive sub as (
       select c.id, 1 as depth, array[${pathElement}] as path
       from tasks c where c.parent_id = ${parentId}${live}
       union all
       select c.id, sub.depth + 1, sub.path || (${pathElement})
       from tasks c join sub on c.parent_id = sub.id where sub.depth < ${opts.recursive ? 64 : 1}::int${live}
     )
     select ${sql.raw(TASK_SELECT_LIST)}, sub.depth as sub_depth, array_to_json(sub.path)::text as sub_path
     from sub join tasks t on t.id = sub.id
     where ${allOf(where)}
     order by sub.path
     limit ${pageSize + 1}::int`,
  );
  const page = rows.slice(0, pageSize);
  const last = page[page.length - 1];
  return {
    items: page.map((r) => ({ row: taskRowFromDb(r), depth: Number(r.sub_depth) })),
    nextPageToken:
      rows.length > pageSize && last
        ? encodeTaskPageToken(binding, { keys: [String(last.sub_path)], id: String(last.id) })
        : null,
  };
}

/** One page of tasks: filter, multi-key order (ties on id), keyset page tokens bound to the request. */
export async function listTasks(em: EntityManager, opts: ListTasksOptions = {}): Promise<TaskPage> {
  const pageSize = Math.min(Math.max(Math.trunc(opts.pageSize ?? 50), 1), 1000);
  const keys: TaskSortKey[] = opts.orderBy?.length ? opts.orderBy : [{ field: "create_time", desc: true }];
  const binding = bindingDigest(
    `list2|${opts.includeDeleted ? 1 : 0}|${keys.map((k) => `${k.field}${k.desc ? "-" : "+"}`).join(",")}|${opts.binding ?? ""}`,
  );
  const kinds = keys.map((k) => SORT_SQL[k.field].kind);
  const cursor = opts.pageToken ? decodeTaskPageToken(opts.pageToken, binding, kinds) : null;
  const filter: RawBuilder<unknown>[] = [];
  if (!opts.includeDeleted) filter.push(sql`t.deleted_at is null`);
  if (opts.where) {
    filter.push(
      opts.excludeArchived ? sql`((${opts.where}) and t.status <> 'archived')` : sql`(${opts.where})`,
    );
  }
  // Ties break on id in the direction of the last sort key, so an index on (..., created_at desc, id desc)
  // serves the default newest-first order without a sort.
  const idDesc = keys[keys.length - 1]?.desc ?? false;
  const where = [...filter];
  if (cursor) {
    // (k1, ..., kn, id) strictly after the cursor, each key in its own direction.
    const all = [
      ...keys.map((k) => ({
        expr: SORT_SQL[k.field].expr(k.desc),
        kind: SORT_SQL[k.field].kind as SortKind | "uuid",
        desc: k.desc,
      })),
      { expr: "t.id", kind: "uuid" as const, desc: idDesc },
    ];
    const values = [...cursor.keys, cursor.id];
    const ors = all.map((_, i) =>
      allOf(
        all.slice(0, i + 1).map((key, j) => {
          const op = j < i ? "=" : key.desc ? "<" : ">";
          return sql`${sql.raw(key.expr)} ${sql.raw(op)} ${sortParam(key.kind, values[j])}`;
        }),
      ),
    );
    where.push(
      sql`(${sql.join(
        ors.map((part) => sql`(${part})`),
        sql` or `,
      )})`,
    );
  }
  const sortSelects = keys.map(
    (k, i) => sql`, ${sql.raw(sortSelect(k.field, k.desc))} as ${sql.ref(`sort_k${i}`)}`,
  );
  const orderBy = keys.map((k) => `${SORT_SQL[k.field].expr(k.desc)} ${k.desc ? "desc" : "asc"}`).join(", ");
  const rows = await query(
    em,
    sql<Row>`select ${sql.raw(TASK_SELECT_LIST)}${sql.join(sortSelects, sql``)}
     from tasks t
     where ${allOf(where)}
     order by ${sql.raw(orderBy)}, t.id ${sql.raw(idDesc ? "desc" : "asc")}
     limit ${pageSize + 1}::int`,
  );
  const page = rows.slice(0, pageSize);
  const last = page[page.length - 1];
  const nextPageToken =
    rows.length > pageSize && last
      ? encodeTaskPageToken(binding, {
          keys: keys.map((k, i) => {
            const v = last[`sort_k${i}`];
            return SORT_SQL[k.field].kind === "int" ? Number(v) : String(v);
          }),
          id: String(last.id),
        })
      : null;
  let totalSize = 0;
  if (opts.withTotal) {
    if (nextPageToken === null && !cursor) {
      // The whole result fits on this first page: its size is the exact total, no extra query.
      totalSize = page.length;
    } else {
      // Exact while small (cheap: at most EXACT_TOTAL_LIMIT index entries); above that the planner's
      // estimate, which the contract allows ("may be an estimate") — an exact count of a large match set
      // costs more than the page itself.
      const filtered = sql`from tasks t where ${allOf(filter)}`;
      const count = await query(
        em,
        sql<Row>`select count(*)::int as n from (select 1 ${filtered} limit ${EXACT_TOTAL_LIMIT + 1}::int) m`,
      );
      totalSize = Number(count[0]?.n ?? 0);
      if (totalSize > EXACT_TOTAL_LIMIT) {
        const plan = await query(em, sql<Row>`explain (format json) select 1 ${filtered}`);
        const estimate = Number(
          (plan[0]?.["QUERY PLAN"] as { Plan?: { "Plan Rows"?: number } }[] | undefined)?.[0]?.Plan?.[
            "Plan Rows"
          ] ?? 0,
        );
        totalSize = Math.min(Math.max(estimate, EXACT_TOTAL_LIMIT + 1), 2_147_483_647);
      }
    }
  }
  return { items: page.map(taskRowFromDb), nextPageToken, totalSize };
}
