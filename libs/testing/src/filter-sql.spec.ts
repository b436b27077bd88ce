/**
 * filter-sql.ts's fragments run on a real PostgreSQL: every column kind and operator of `filterSql` and
 * `conditionsSql` executes with its values as bind parameters (the types PostgreSQL must infer for them
 * included) and selects the rows it means. The rendered texts are checked in libs/persistence.
 */
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  conditionsSql,
  type FilterColumn,
  type FilterSqlExpr,
  type FilterSqlOp,
  type FilterSqlValue,
  filterSql,
  type ListColumn,
  type ListCondition,
} from "@taskmaster/persistence/filter-sql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import type { RawBuilder } from "@taskmaster/persistence/task-filter.columns";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

let db: TestDatabase;
let orm: MikroORM;
let client: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await initOrm({ url: db.url, pool: { min: 0, max: 1 } });
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});

afterAll(async () => {
  await client?.end();
  await orm?.close(true);
  await db?.drop();
});

const PARENT = "0190a8c4-0000-7000-8000-000000000001";

/** Three rows `t` over every column kind (a: mostly set, b: mostly unset, c: in between). */
const ROWS = `(values
  ('a', 'open', 'Alice', null::uuid, '{"a": {"b": 1}}'::jsonb, array['x', 'y']::text[], 3::int, timestamptz '2030-01-02T00:00:00Z'),
  ('b', 'done', 'bob''s', '${PARENT}'::uuid, '{"a": {"b": "2"}}'::jsonb, array[]::text[], null::int, null::timestamptz),
  ('c', 'in_progress', null::text, null::uuid, '{"a": {"b": 5}, "flag": true}'::jsonb, array['y']::text[], 7::int, timestamptz '2029-12-31T00:00:00Z')
) as t(id, status, owner, parent_id, meta, labels, n, at)`;

/** The ids of the rows of {@link ROWS} the condition selects. */
async function matching(condition: RawBuilder<unknown>): Promise<string[]> {
  const { sql, parameters } = condition.compile(orm.em.getKysely());
  expect(sql).not.toMatch(/'(?:Alice|bob|drop)/); // values travel as parameters, never in the text
  const result = await client.query<{ id: string }>(`select t.id from ${ROWS} where ${sql} order by t.id`, [
    ...parameters,
  ]);
  return result.rows.map((r) => r.id);
}

describe("filterSql on PostgreSQL", () => {
  const COLUMNS: Record<string, FilterColumn> = {
    status: { expr: "t.status", type: "enum", values: ["open", "in_progress", "done"] },
    owner: { expr: "t.owner", type: "text" },
    parent: { expr: "t.parent_id", type: "uuid" },
    meta: { expr: "t.meta", type: "jsonb" },
    labels: { expr: "t.labels", type: "text[]" },
    n: { expr: "t.n", type: "int" },
    at: { expr: "t.at", type: "timestamptz" },
  };
  const cmp = (
    field: string,
    op: FilterSqlOp,
    value: FilterSqlValue,
    path: string[] = [],
  ): FilterSqlExpr => ({
    type: "cmp",
    field,
    path,
    op,
    value,
  });
  const text = (t: string): FilterSqlValue => ({ type: "string", text: t });
  const number = (t: string): FilterSqlValue => ({ type: "number", text: t });
  const filter = (expr: FilterSqlExpr | null) => matching(filterSql(expr, COLUMNS));

  it("compares enums by value and by declaration order", async () => {
    expect(await filter(cmp("status", "=", text("done")))).toEqual(["b"]);
    expect(await filter(cmp("status", "!=", text("done")))).toEqual(["a", "c"]);
    expect(await filter(cmp("status", ">", text("open")))).toEqual(["b", "c"]);
    expect(await filter(cmp("status", "<=", text("in_progress")))).toEqual(["a", "c"]);
  });

  it("compares text, uuid, int and timestamptz columns, null as is [not] null", async () => {
    expect(await filter(cmp("owner", ":", text("ALI")))).toEqual(["a"]);
    expect(await filter(cmp("owner", "=", text("bob's")))).toEqual(["b"]);
    expect(await filter(cmp("owner", "=", { type: "null" }))).toEqual(["c"]);
    expect(await filter(cmp("owner", "=", text("'; drop table tasks; --")))).toEqual([]);
    expect(await filter(cmp("parent", "=", text(PARENT)))).toEqual(["b"]);
    expect(await filter(cmp("parent", "!=", text(PARENT)))).toEqual(["a", "c"]);
    expect(await filter(cmp("parent", "!=", { type: "null" }))).toEqual(["b"]);
    expect(await filter(cmp("n", ">=", number("3")))).toEqual(["a", "c"]);
    expect(await filter(cmp("n", "<", number("5")))).toEqual(["a"]);
    expect(await filter(cmp("n", "=", { type: "present" }))).toEqual(["a", "c"]);
    expect(await filter(cmp("at", ">", text("2030-01-01T00:00:00Z")))).toEqual(["a"]);
  });

  it("has-element on text arrays, key paths into jsonb", async () => {
    expect(await filter(cmp("labels", ":", text("y")))).toEqual(["a", "c"]);
    expect(await filter(cmp("labels", ":", { type: "present" }))).toEqual(["a", "c"]);
    expect(await filter(cmp("meta", "<", number("2"), ["a", "b"]))).toEqual(["a"]);
    expect(await filter(cmp("meta", ":", text("2"), ["a", "b"]))).toEqual(["b"]);
    expect(await filter(cmp("meta", "=", { type: "literal", text: "true" }, ["flag"]))).toEqual(["c"]);
    expect(await filter(cmp("meta", "=", { type: "present" }, ["a", "b"]))).toEqual(["a", "b", "c"]);
  });

  it("combines with and, or and not (an unknown comparison is false under not)", async () => {
    expect(await filter({ type: "not", arg: cmp("meta", "<", number("2"), ["a", "b"]) })).toEqual(["b", "c"]);
    expect(
      await filter({
        type: "or",
        args: [
          cmp("status", "=", text("done")),
          { type: "and", args: [cmp("n", ">", number("5")), cmp("labels", ":", text("y"))] },
        ],
      }),
    ).toEqual(["b", "c"]);
    expect(await filter(null)).toEqual(["a", "b", "c"]);
  });
});

describe("conditionsSql on PostgreSQL", () => {
  const COLUMNS: Record<string, string | ListColumn> = {
    status: "t.status",
    owner: { expr: "t.owner", has: "contains" },
    labels: { expr: "t.labels", has: "element" },
    n: { expr: "t.n", cast: "int" },
    at: { expr: "t.at", cast: "timestamptz" },
  };
  const conditions = (...list: ListCondition[]) =>
    Promise.all(conditionsSql(list, COLUMNS).map((condition) => matching(condition)));

  it("runs every operator with its values bound", async () => {
    expect(
      await conditions(
        { field: "status", op: "=", value: "open" },
        { field: "owner", op: ":", value: "'S" },
        { field: "owner", op: ":", value: "%" },
        { field: "labels", op: ":", value: "y" },
        { field: "n", op: "!=", value: 3 },
        { field: "n", op: "<", value: 7 },
        { field: "at", op: ">=", value: new Date("2030-01-01T00:00:00Z") },
        { field: "owner", op: "=", value: null },
        { field: "owner", op: "!=", value: null },
      ),
    ).toEqual([["a"], ["b"], [], ["a", "c"], ["b", "c"], ["a"], ["a"], ["c"], ["a", "b"]]);
  });
});
