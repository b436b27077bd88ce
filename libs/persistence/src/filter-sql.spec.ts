import { describe, expect, it } from "vitest";
import { compileFilter, type FilterColumn, renderConditions } from "./filter-sql.js";

const COLUMNS: Record<string, FilterColumn> = {
  status: { expr: "t.status", type: "enum", values: ["open", "done"] },
  owner: { expr: "t.owner", type: "text" },
  parent: { expr: "t.parent_id", type: "uuid" },
  meta: { expr: "t.meta", type: "jsonb" },
};

describe("compileFilter", () => {
  it("renders a tree with every value bound, in placeholder order", () => {
    const c = compileFilter(
      {
        type: "or",
        args: [
          { type: "cmp", field: "status", path: [], op: ">", value: { type: "string", text: "open" } },
          {
            type: "not",
            arg: {
              type: "cmp",
              field: "meta",
              path: ["a", "b"],
              op: "<",
              value: { type: "number", text: "2" },
            },
          },
          { type: "cmp", field: "owner", path: [], op: ":", value: { type: "string", text: "'; drop" } },
          { type: "cmp", field: "parent", path: [], op: "!=", value: { type: "null" } },
        ],
      },
      COLUMNS,
    );
    expect(c.sql).toBe(
      "(array_position(array['open', 'done']::text[], t.status::text) > ?::int" +
        " or (not coalesce((case when jsonb_typeof(t.meta #> ?::text[]) = 'number' then (t.meta #>> ?::text[])::numeric end) < ?::numeric, false))" +
        " or strpos(lower(t.owner), lower(?)) > 0 or t.parent_id is not null)",
    );
    expect(c.params).toEqual([1, "{a,b}", "{a,b}", "2", "'; drop"]);
    expect(compileFilter(null, COLUMNS)).toEqual({ sql: "true", params: [] });
  });

  it("throws on a field the column map does not have (never renders it)", () => {
    const expr = { type: "cmp", field: "toString", path: [], op: "=", value: { type: "null" } } as const;
    expect(() => compileFilter(expr, COLUMNS)).toThrow(/unsupported filter field/);
  });
});

describe("renderConditions", () => {
  it("binds values with the column's cast, null as is [not] null, ':' as contains or element", () => {
    const where: string[] = [];
    const params: unknown[] = [];
    renderConditions(
      [
        { field: "at", op: ">=", value: new Date("2030-01-01T00:00:00Z") },
        { field: "name", op: "!=", value: null },
        { field: "title", op: ":", value: "50%_" },
        { field: "tags", op: ":", value: "x" },
        { field: "plain", op: "!=", value: 3 },
      ],
      {
        at: { expr: "x.at", cast: "timestamptz" },
        name: "x.name",
        title: { expr: "x.title", has: "contains" },
        tags: { expr: "x.tags", has: "element" },
        plain: "x.n",
      },
      where,
      params,
    );
    expect(where).toEqual([
      "x.at >= ?::timestamptz",
      "x.name is not null",
      "x.title ilike ?",
      "x.tags @> array[?::text]",
      "x.n is distinct from ?",
    ]);
    expect(params).toEqual(["2030-01-01T00:00:00.000Z", "%50\\%\\_%", "x", 3]);
  });
});
