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
import {
  parseConjunction,
  parseOrderBy as parseListOrderBy,
  type QueryValue,
  queryError,
} from "@taskmaster/rpc-kit/list-query";
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

function fail(field: string, pos: number, description: string): never {
  return queryError(field, pos, description);
}

function enumValue(desc: DescEnum, text: string): number | undefined {
  const upper = text.toUpperCase();
  return desc.values.find((v) => v.number !== 0 && (v.localName === upper || v.name === upper))?.number;
}

function convert(field: string, kind: FieldKind, token: QueryValue, op: CompareOp): string | number | Date {
  const ordered = op !== "=" && op !== "!=";
  switch (kind.kind) {
    case "enum": {
      const n = enumValue(kind.desc, token.text);
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
      if (token.quoted || (token.text !== "true" && token.text !== "false")) {
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
      if (!token.quoted) fail(field, token.pos, "expected a string literal in double quotes");
      return token.text;
  }
}

/** Parses `filter` against the allowed `fields`; "" means no conditions. `field` names the request field. */
export function parseFilter<F extends string>(
  filter: string,
  fields: Readonly<Record<F, FieldKind>>,
  field = "filter",
): Condition<F>[] {
  return parseConjunction(filter, fields, { requestField: field, maxLength: 2000 }, (c) => ({
    field: c.field as F,
    op: c.op as CompareOp,
    value: convert(field, c.kind, c.value, c.op as CompareOp),
  }));
}

/** Parses `order_by` (one of `fields`, optional " desc"/" asc"); "" means `fallback`. */
export function parseOrderBy<O extends string>(
  orderBy: string,
  fields: readonly O[],
  fallback: SortSpec<O>,
): SortSpec<O> {
  return parseListOrderBy(orderBy, fields, fallback, { maxLength: 200 });
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
