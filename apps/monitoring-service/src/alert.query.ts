/**
 * AIP-160 filter / AIP-132 order_by subset for ListAlertRules, ListAlerts and WatchAlerts: conjunctions (AND)
 * of comparisons `field op value` with `=`, `!=`, `<`, `<=`, `>`, `>=`; values are string literals in double
 * quotes, booleans, RFC 3339 timestamps, enum short names or resource names. Order by one field, optional
 * " desc". Anything outside the subset is INVALID_ARGUMENT naming the position; nothing is silently ignored.
 * {@link matchesAlert} evaluates the same conditions in memory (WatchAlerts).
 */
import type { DescEnum } from "@bufbuild/protobuf";
import type { AlertRow } from "@taskmaster/persistence/alert.repository";
import type { CompareOp, Condition, SortSpec } from "@taskmaster/persistence/list-page";
import { InvalidArgumentError } from "@taskmaster/rpc-kit/errors";
import { parseResourceName } from "@taskmaster/rpc-kit/validation";
import { severityRankOf } from "./alert.mapper.js";

export type FieldKind =
  /** Enum by short name (`FIRING`) or full name (`ALERT_STATE_FIRING`); `toDb` maps the number. */
  | { kind: "enum"; desc: DescEnum; toDb: (n: number) => string | number | undefined; ordered?: boolean }
  /** A resource name compared by id. */
  | { kind: "name"; pattern: string }
  | { kind: "bool" }
  | { kind: "timestamp" }
  | { kind: "string" };

interface Token {
  kind: "word" | "string" | "op";
  text: string;
  pos: number;
}

function fail(field: string, pos: number, description: string): never {
  throw new InvalidArgumentError([
    { field, description: `at position ${pos + 1}: ${description}`, reason: "INVALID_SYNTAX" },
  ]);
}

function tokenize(input: string, field: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let text = "";
      while (j < input.length && input[j] !== '"') {
        if (input[j] === "\\" && j + 1 < input.length) j++;
        text += input[j];
        j++;
      }
      if (j >= input.length) fail(field, i, "unterminated string");
      tokens.push({ kind: "string", text, pos: i });
      i = j + 1;
    } else if (c === "!" || c === "<" || c === ">" || c === "=") {
      const two = input.slice(i, i + 2);
      if (two === "!=" || two === "<=" || two === ">=") {
        tokens.push({ kind: "op", text: two, pos: i });
        i += 2;
      } else if (c === "!") {
        fail(field, i, "unexpected '!'");
      } else {
        tokens.push({ kind: "op", text: c, pos: i });
        i++;
      }
    } else if (/[A-Za-z0-9_.+:-]/.test(c)) {
      let j = i;
      while (j < input.length && /[A-Za-z0-9_.+:/-]/.test(input[j] as string)) j++;
      tokens.push({ kind: "word", text: input.slice(i, j), pos: i });
      i = j;
    } else {
      fail(field, i, `unexpected character '${c}' (supported: field op value joined by AND)`);
    }
  }
  return tokens;
}

function enumValue(desc: DescEnum, text: string): number | undefined {
  const upper = text.toUpperCase();
  return desc.values.find((v) => v.number !== 0 && (v.localName === upper || v.name === upper))?.number;
}

function convert(field: string, kind: FieldKind, token: Token, op: CompareOp): string | number | Date {
  const ordered = op !== "=" && op !== "!=";
  switch (kind.kind) {
    case "enum": {
      const n =
        token.kind === "word" || token.kind === "string" ? enumValue(kind.desc, token.text) : undefined;
      const db = n === undefined ? undefined : kind.toDb(n);
      if (db === undefined) {
        const names = kind.desc.values.filter((v) => v.number !== 0).map((v) => v.localName);
        fail(field, token.pos, `unknown value '${token.text}' (expected one of ${names.join(", ")})`);
      }
      if (ordered && kind.ordered !== true) fail(field, token.pos, "this field only supports = and !=");
      return db;
    }
    case "name": {
      if (ordered) fail(field, token.pos, "resource fields only support = and !=");
      const parsed = parseResourceName(kind.pattern, token.text);
      if (!parsed.ok) fail(field, token.pos, parsed.description);
      return Object.values(parsed.ids).at(-1) as string;
    }
    case "bool": {
      if (ordered) fail(field, token.pos, "boolean fields only support = and !=");
      if (token.kind !== "word" || (token.text !== "true" && token.text !== "false")) {
        fail(field, token.pos, `expected true or false, got '${token.text}'`);
      }
      return token.text;
    }
    case "timestamp": {
      const ok =
        /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$/i.test(
          token.text,
        );
      const date = new Date(token.text);
      if (!ok || Number.isNaN(date.getTime())) {
        fail(field, token.pos, `expected an RFC 3339 timestamp, got '${token.text}'`);
      }
      return date;
    }
    case "string":
      if (token.kind !== "string") fail(field, token.pos, "expected a string literal in double quotes");
      return token.text;
  }
}

/** Parses `filter` against the allowed `fields`; "" means no conditions. `field` names the request field. */
export function parseFilter<F extends string>(
  filter: string,
  fields: Readonly<Record<F, FieldKind>>,
  field = "filter",
): Condition<F>[] {
  if (filter.length > 2000) {
    throw new InvalidArgumentError([
      { field, description: "must be at most 2000 characters", reason: "TOO_LONG" },
    ]);
  }
  const tokens = tokenize(filter, field);
  const out: Condition<F>[] = [];
  let i = 0;
  while (i < tokens.length) {
    if (out.length > 0) {
      const and = tokens[i] as Token;
      if (and.kind !== "word" || and.text !== "AND") {
        fail(field, and.pos, `expected AND, got '${and.text}' (OR, NOT and parentheses are not supported)`);
      }
      i++;
    }
    const name = tokens[i];
    const op = tokens[i + 1];
    const value = tokens[i + 2];
    if (name === undefined) fail(field, filter.length, "expected a field after AND");
    if (name.kind !== "word" || !Object.hasOwn(fields, name.text)) {
      fail(field, name.pos, `unknown field '${name.text}' (filterable: ${Object.keys(fields).join(", ")})`);
    }
    if (op === undefined || op.kind !== "op") {
      fail(field, op?.pos ?? filter.length, "expected a comparison operator (=, !=, <, <=, >, >=)");
    }
    if (value === undefined || value.kind === "op") {
      fail(field, value?.pos ?? filter.length, "expected a value");
    }
    const f = name.text as F;
    out.push({
      field: f,
      op: op.text as CompareOp,
      value: convert(field, fields[f], value, op.text as CompareOp),
    });
    i += 3;
  }
  return out;
}

/** Parses `order_by` (one of `fields`, optional " desc"/" asc"); "" means `fallback`. */
export function parseOrderBy<O extends string>(
  orderBy: string,
  fields: readonly O[],
  fallback: SortSpec<O>,
): SortSpec<O> {
  const text = orderBy.trim();
  if (text === "") return fallback;
  if (text.length > 200) fail("order_by", 200, "too long");
  const parts = text.split(/\s+/);
  const field = parts[0] as string;
  const direction = parts[1]?.toLowerCase();
  if (text.includes(",")) fail("order_by", text.indexOf(","), "only one order field is supported");
  if (!fields.includes(field as O)) {
    fail("order_by", 0, `unknown field '${field}' (sortable: ${fields.join(", ")})`);
  }
  if (parts.length > 2 || (direction !== undefined && direction !== "desc" && direction !== "asc")) {
    fail("order_by", field.length + 1, "expected ' desc' or ' asc' after the field");
  }
  return { field: field as O, desc: direction === "desc" };
}

function compare<T extends string | number>(a: T, op: CompareOp, b: T): boolean {
  switch (op) {
    case "=":
      return a === b;
    case "!=":
      return a !== b;
    case "<":
      return a < b;
    case "<=":
      return a <= b;
    case ">":
      return a > b;
    case ">=":
      return a >= b;
  }
}

/** Whether `alert` satisfies every condition of a ListAlerts filter (as the SQL would). */
export function matchesAlert(
  alert: AlertRow,
  conditions: readonly Condition<
    "state" | "severity" | "condition" | "alert_rule" | "service" | "fire_time"
  >[],
): boolean {
  return conditions.every((c) => {
    const v = c.value;
    switch (c.field) {
      case "state":
        return compare(alert.state, c.op, String(v));
      case "severity":
        return compare(severityRankOf(alert.severity), c.op, Number(v));
      case "condition":
        return compare(alert.condition, c.op, String(v));
      case "alert_rule":
        return compare(alert.ruleId, c.op, String(v));
      case "service":
        return compare(alert.service, c.op, String(v));
      case "fire_time":
        return compare(alert.fireTime.getTime(), c.op, v instanceof Date ? v.getTime() : Number.NaN);
    }
    return false;
  });
}
