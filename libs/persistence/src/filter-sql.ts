/**
 * The one place filter trees become SQL. The service layer parses and checks a filter (rpc-kit
 * `filter-expression` / `list-query`) and hands over a tree of typed comparisons; this module renders it
 * against a fixed column map (field -> SQL expression and column type) as a Kysely `sql` fragment, so field
 * names never reach SQL and every value travels as a bind parameter. Unknown fields throw (a programming
 * error, not a user one).
 */
import { type RawBuilder, sql } from "kysely";

export type FilterSqlOp = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":";

/** A checked comparison value (mirrors rpc-kit's ExprValue). */
export type FilterSqlValue =
  | { type: "present" }
  | { type: "null" }
  | { type: "string"; text: string }
  | { type: "number"; text: string }
  | { type: "literal"; text: "true" | "false" | "null" };

export type FilterSqlExpr =
  | { type: "cmp"; field: string; path: readonly string[]; op: FilterSqlOp; value: FilterSqlValue }
  | { type: "and" | "or"; args: readonly FilterSqlExpr[] }
  | { type: "not"; arg: FilterSqlExpr };

/**
 * How a field maps to SQL: `enum` is a text column ordered by `values`; `text`, `uuid`, `int` and
 * `timestamptz` plain columns; `text[]` a text array (`:` = has); `jsonb` a document addressed by key path.
 */
export interface FilterColumn {
  expr: string;
  type: "enum" | "text" | "uuid" | "text[]" | "int" | "timestamptz" | "jsonb";
  /** Enum values in declaration order (for `<`, `>` on enums). */
  values?: readonly string[];
}

const SQL_OP: Record<Exclude<FilterSqlOp, ":">, string> = {
  "=": "=",
  "!=": "is distinct from",
  "<": "<",
  "<=": "<=",
  ">": ">",
  ">=": ">=",
};

function sqlOp(op: FilterSqlOp): string {
  return op === ":" ? "=" : SQL_OP[op];
}

function textOf(v: FilterSqlValue): string {
  return v.type === "string" || v.type === "number" || v.type === "literal" ? v.text : "";
}

/** `:` is "has": a case-insensitive substring for `has: "contains"` columns, an element for `"element"`. */
export type ListOp = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":";

/** A conjunction-list condition (the subset of the non-task List RPCs), values already converted. */
export interface ListCondition {
  field: string;
  op: ListOp;
  value: string | number | boolean | Date | null;
}

/** A column of a conjunction list: its expression, the cast of a bound value, what `:` means on it. */
export interface ListColumn {
  expr: string;
  cast?: string;
  has?: "contains" | "element";
}

type Sql = RawBuilder<unknown>;

/** Renders one comparison as a fragment; values are bind parameters, the column expression a constant. */
function comparisonSql(c: Extract<FilterSqlExpr, { type: "cmp" }>, col: FilterColumn): Sql {
  const e = sql.raw(col.expr);
  const { op, value } = c;
  const present = value.type === "present";
  const text = textOf(value);
  switch (col.type) {
    case "enum": {
      if (present) return sql`true`;
      if (op === "=" || op === ":") return sql`${e} = ${text}`;
      if (op === "!=") return sql`${e} <> ${text}`;
      const values = col.values ?? [];
      return sql`array_position(${values}::text[], ${e}::text) ${sql.raw(SQL_OP[op])} ${values.indexOf(text) + 1}::int`;
    }
    case "text":
      if (present) return sql`${e} is not null`;
      if (value.type === "null") return op === "=" ? sql`${e} is null` : sql`${e} is not null`;
      if (op === ":") return sql`strpos(lower(${e}), lower(${text}::text)) > 0`;
      return sql`${e} ${sql.raw(SQL_OP[op])} ${text}`;
    case "uuid":
      if (present) return sql`${e} is not null`;
      if (value.type === "null") return op === "!=" ? sql`${e} is not null` : sql`${e} is null`;
      return sql`${e} ${sql.raw(op === "!=" ? "is distinct from" : "=")} ${text}::uuid`;
    case "text[]":
      if (present) return sql`cardinality(${e}) > 0`;
      return sql`${text}::text = any(${e})`;
    case "int":
      if (present) return sql`${e} is not null`;
      return sql`${e} ${sql.raw(sqlOp(op))} ${Number(text)}::int`;
    case "timestamptz":
      if (present) return sql`${e} is not null`;
      return sql`${e} ${sql.raw(sqlOp(op))} ${text}::timestamptz`;
    case "jsonb": {
      const path = sql`${`{${c.path.join(",")}}`}::text[]`;
      if (present) return sql`(${e} #> ${path}) is not null`;
      if (value.type === "literal") {
        return sql`(${e} #> ${path}) ${sql.raw(op === "!=" ? "is distinct from" : "=")} ${value.text}::jsonb`;
      }
      if (value.type === "number") {
        return sql`(case when jsonb_typeof(${e} #> ${path}) = 'number' then (${e} #>> ${path})::numeric end) ${sql.raw(sqlOp(op))} ${value.text}::numeric`;
      }
      if (op === ":") return sql`strpos(lower(${e} #>> ${path}), lower(${text}::text)) > 0`;
      return sql`(${e} #>> ${path}) ${sql.raw(SQL_OP[op])} ${text}`;
    }
  }
}

/**
 * A filter tree as one condition fragment against `columns`; `null` (an empty filter) is `true`. NOT treats
 * an unknown (NULL) comparison as false, so `NOT x = 1` also matches rows where x is unset.
 */
export function filterSql(expr: FilterSqlExpr | null, columns: Readonly<Record<string, FilterColumn>>): Sql {
  const render = (node: FilterSqlExpr): Sql => {
    switch (node.type) {
      case "and":
      case "or":
        return sql`(${sql.join(node.args.map(render), sql.raw(` ${node.type} `))})`;
      case "not":
        return sql`(not coalesce(${render(node.arg)}, false))`;
      case "cmp": {
        const col = Object.hasOwn(columns, node.field) ? columns[node.field] : undefined;
        if (col === undefined) throw new Error(`unsupported filter field ${node.field}`);
        return comparisonSql(node, col);
      }
    }
  };
  return expr === null ? sql`true` : render(expr);
}

/**
 * ANDed list conditions as fragments against `columns` (field -> SQL expression or {@link ListColumn});
 * `null` with `=`/`!=` means `is null`/`is not null`.
 */
export function conditionsSql(
  conditions: readonly ListCondition[],
  columns: Readonly<Record<string, string | ListColumn>>,
): Sql[] {
  return conditions.map((c) => {
    const column = Object.hasOwn(columns, c.field) ? columns[c.field] : undefined;
    if (column === undefined) throw new Error(`unsupported filter field ${c.field}`);
    const { expr: text, cast, has } = typeof column === "string" ? { expr: column } : column;
    const expr = sql.raw(text);
    if (c.op === ":") {
      if (has === undefined || typeof c.value !== "string") throw new Error(`${c.field} has no ':'`);
      return has === "contains"
        ? sql`${expr} ilike ${`%${c.value.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`}`
        : sql`${expr} @> array[${c.value}::text]`;
    }
    if (c.value === null) {
      if (c.op !== "=" && c.op !== "!=") throw new Error("null only compares with = or !=");
      return sql`${expr} is ${sql.raw(c.op === "=" ? "" : "not ")}null`;
    }
    const bound = c.value instanceof Date && cast !== undefined ? c.value.toISOString() : c.value;
    const value = cast === undefined ? sql`${bound}` : sql`${bound}::${sql.raw(cast)}`;
    return c.op === "!=" ? sql`${expr} is distinct from ${value}` : sql`${expr} ${sql.raw(c.op)} ${value}`;
  });
}
