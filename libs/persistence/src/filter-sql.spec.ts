import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type RawBuilder,
} from "kysely";
import { describe, expect, it } from "vitest";
import {
  conditionsSql,
  type FilterColumn,
  type FilterSqlExpr,
  filterSql,
  type ListColumn,
  type ListCondition,
} from "./filter-sql.js";

const COLUMNS: Record<string, FilterColumn> = {
  status: { expr: "t.status", type: "enum", values: ["open", "done"] },
  owner: { expr: "t.owner", type: "text" },
  parent: { expr: "t.parent_id", type: "uuid" },
  meta: { expr: "t.meta", type: "jsonb" },
};

/** A tree over every column kind of COLUMNS. */
const TREE: FilterSqlExpr = {
  type: "or",
  args: [
    { type: "cmp", field: "status", path: [], op: ">", value: { type: "string", text: "open" } },
    {
      type: "not",
      arg: { type: "cmp", field: "meta", path: ["a", "b"], op: "<", value: { type: "number", text: "2" } },
    },
    { type: "cmp", field: "owner", path: [], op: ":", value: { type: "string", text: "'; drop" } },
    { type: "cmp", field: "parent", path: [], op: "!=", value: { type: "null" } },
  ],
};

const LIST_CONDITIONS: ListCondition[] = [
  { field: "at", op: ">=", value: new Date("2030-01-01T00:00:00Z") },
  { field: "name", op: "!=", value: null },
  { field: "title", op: ":", value: "50%_" },
  { field: "tags", op: ":", value: "x" },
  { field: "plain", op: "!=", value: 3 },
];

const LIST_COLUMNS: Record<string, string | ListColumn> = {
  at: { expr: "x.at", cast: "timestamptz" },
  name: "x.name",
  title: { expr: "x.title", has: "contains" },
  tags: { expr: "x.tags", has: "element" },
  plain: "x.n",
};

/** Compiles fragments as the PostgreSQL dialect does, without a database (the texts are checked by eye here). */
const postgres = new Kysely<unknown>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});
const compiled = (fragment: RawBuilder<unknown>) => {
  const { sql, parameters } = fragment.compile(postgres);
  return { sql, parameters };
};

describe("filterSql", () => {
  it("renders a tree with every value a bind parameter, in placeholder order", () => {
    expect(compiled(filterSql(TREE, COLUMNS))).toEqual({
      sql:
        "(array_position($1::text[], t.status::text) > $2::int" +
        " or (not coalesce((case when jsonb_typeof(t.meta #> $3::text[]) = 'number' then (t.meta #>> $4::text[])::numeric end) < $5::numeric, false))" +
        " or strpos(lower(t.owner), lower($6::text)) > 0 or t.parent_id is not null)",
      parameters: [["open", "done"], 1, "{a,b}", "{a,b}", "2", "'; drop"],
    });
    expect(compiled(filterSql(null, COLUMNS))).toEqual({ sql: "true", parameters: [] });
  });

  it("throws on a field the column map does not have (never renders it)", () => {
    const expr = { type: "cmp", field: "toString", path: [], op: "=", value: { type: "null" } } as const;
    expect(() => filterSql(expr, COLUMNS)).toThrow(/unsupported filter field/);
  });
});

describe("conditionsSql", () => {
  it("binds values with the column's cast, null as is [not] null, ':' as contains or element", () => {
    expect(conditionsSql(LIST_CONDITIONS, LIST_COLUMNS).map(compiled)).toEqual([
      { sql: "x.at >= $1::timestamptz", parameters: ["2030-01-01T00:00:00.000Z"] },
      { sql: "x.name is not null", parameters: [] },
      { sql: "x.title ilike $1", parameters: ["%50\\%\\_%"] },
      { sql: "x.tags @> array[$1::text]", parameters: ["x"] },
      { sql: "x.n is distinct from $1", parameters: [3] },
    ]);
  });

  it("throws on a field the column map does not have", () => {
    expect(() => conditionsSql([{ field: "constructor", op: "=", value: 1 }], LIST_COLUMNS)).toThrow(
      /unsupported filter field/,
    );
  });
});
