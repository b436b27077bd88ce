/**
 * The one place filter trees become SQL. The service layer parses and checks a filter (rpc-kit
 * `filter-expression` / `list-query`) and hands over a tree of typed comparisons; this module renders it
 * against a fixed column map (field -> SQL expression and column type), so field names never reach SQL and
 * every value travels as a bound `?` parameter. Unknown fields throw (a programming error, not a user one).
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

/** A parameterised SQL condition with `?` placeholders. */
export interface SqlCondition {
  sql: string;
  params: unknown[];
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

/** Renders one comparison; `bind` appends a parameter and returns its placeholder. */
function comparison(
  c: Extract<FilterSqlExpr, { type: "cmp" }>,
  col: FilterColumn,
  bind: (v: unknown) => string,
): string {
  const e = col.expr;
  const { op, value } = c;
  const present = value.type === "present";
  switch (col.type) {
    case "enum": {
      if (present) return "true";
      const v = textOf(value);
      if (op === "=" || op === ":") return `${e} = ${bind(v)}`;
      if (op === "!=") return `${e} <> ${bind(v)}`;
      const values = col.values ?? [];
      const rank = `array_position(array[${values.map((x) => `'${x}'`).join(", ")}]::text[], ${e}::text)`;
      return `${rank} ${SQL_OP[op]} ${bind(values.indexOf(v) + 1)}::int`;
    }
    case "text":
      if (present) return `${e} is not null`;
      if (value.type === "null") return op === "=" ? `${e} is null` : `${e} is not null`;
      if (op === ":") return `strpos(lower(${e}), lower(${bind(textOf(value))})) > 0`;
      return `${e} ${SQL_OP[op]} ${bind(textOf(value))}`;
    case "uuid":
      if (present) return `${e} is not null`;
      if (value.type === "null") return op === "!=" ? `${e} is not null` : `${e} is null`;
      return `${e} ${op === "!=" ? "is distinct from" : "="} ${bind(textOf(value))}::uuid`;
    case "text[]":
      if (present) return `cardinality(${e}) > 0`;
      return `${bind(textOf(value))}::text = any(${e})`;
    case "int":
      if (present) return `${e} is not null`;
      return `${e} ${sqlOp(op)} ${bind(Number(textOf(value)))}::int`;
    case "timestamptz":
      if (present) return `${e} is not null`;
      return `${e} ${sqlOp(op)} ${bind(textOf(value))}::timestamptz`;
    case "jsonb": {
      // Each bind() runs in the order of its placeholder (template literals evaluate left to right).
      const path = () => `${bind(`{${c.path.join(",")}}`)}::text[]`;
      if (present) return `(${e} #> ${path()}) is not null`;
      if (value.type === "literal") {
        return `(${e} #> ${path()}) ${op === "!=" ? "is distinct from" : "="} ${bind(value.text)}::jsonb`;
      }
      if (value.type === "number") {
        return `(case when jsonb_typeof(${e} #> ${path()}) = 'number' then (${e} #>> ${path()})::numeric end) ${sqlOp(op)} ${bind(value.text)}::numeric`;
      }
      if (op === ":") return `strpos(lower(${e} #>> ${path()}), lower(${bind(textOf(value))})) > 0`;
      return `(${e} #>> ${path()}) ${SQL_OP[op]} ${bind(textOf(value))}`;
    }
  }
}

/**
 * Compiles a filter tree against `columns`. `null` (an empty filter) compiles to `true`. NOT treats an
 * unknown (NULL) comparison as false, so `NOT x = 1` also matches rows where x is unset.
 */
export function compileFilter(
  expr: FilterSqlExpr | null,
  columns: Readonly<Record<string, FilterColumn>>,
): SqlCondition {
  const params: unknown[] = [];
  const bind = (v: unknown): string => {
    params.push(v);
    return "?";
  };
  const render = (node: FilterSqlExpr): string => {
    switch (node.type) {
      case "and":
      case "or":
        return `(${node.args.map(render).join(` ${node.type} `)})`;
      case "not":
        return `(not coalesce(${render(node.arg)}, false))`;
      case "cmp": {
        const col = Object.hasOwn(columns, node.field) ? columns[node.field] : undefined;
        if (col === undefined) throw new Error(`unsupported filter field ${node.field}`);
        return comparison(node, col, bind);
      }
    }
  };
  return { sql: expr === null ? "true" : render(expr), params };
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

/**
 * Renders ANDed conditions against `columns` (field -> SQL expression or {@link ListColumn}) into `where`
 * and `params`; `null` with `=`/`!=` means `is null`/`is not null`.
 */
export function renderConditions(
  conditions: readonly ListCondition[],
  columns: Readonly<Record<string, string | ListColumn>>,
  where: string[],
  params: unknown[],
): void {
  for (const c of conditions) {
    const column = Object.hasOwn(columns, c.field) ? columns[c.field] : undefined;
    if (column === undefined) throw new Error(`unsupported filter field ${c.field}`);
    const { expr, cast, has } = typeof column === "string" ? { expr: column } : column;
    if (c.op === ":") {
      if (has === undefined || typeof c.value !== "string") throw new Error(`${c.field} has no ':'`);
      if (has === "contains") {
        where.push(`${expr} ilike ?`);
        params.push(`%${c.value.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`);
      } else {
        where.push(`${expr} @> array[?::text]`);
        params.push(c.value);
      }
      continue;
    }
    const placeholder = cast === undefined ? "?" : `?::${cast}`;
    if (c.value === null) {
      if (c.op !== "=" && c.op !== "!=") throw new Error("null only compares with = or !=");
      where.push(`${expr} is ${c.op === "=" ? "" : "not "}null`);
      continue;
    }
    where.push(c.op === "!=" ? `${expr} is distinct from ${placeholder}` : `${expr} ${c.op} ${placeholder}`);
    params.push(c.value instanceof Date && cast !== undefined ? c.value.toISOString() : c.value);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Kysely `sql` fragments (the project's one SQL style, see sql-toolkit.ts). The `?`-string renderers above
// stay until their last caller has moved, then go.

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
