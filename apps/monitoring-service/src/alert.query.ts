/**
 * order_by of ListAlertRules, ListAlerts and the audit lists (one field, optional " desc"), and
 * {@link matchesAlert}, which evaluates a ListAlerts filter (parsed by rpc-kit's `parseListFilter` against
 * the field specs in alert.handlers.ts) in memory for WatchAlerts.
 */
import type { AlertRow } from "@taskmaster/persistence/alert.repository";
import type { CompareOp, Condition, SortSpec } from "@taskmaster/persistence/list-page";
import { type OrderBySyntax, parseOrderBy as parseListOrderBy } from "@taskmaster/rpc-kit/list-query";
import { severityRankOf } from "./alert.mapper.js";

/** How the monitoring lists read `order_by`: at most 200 characters. */
export const ORDER_SYNTAX: OrderBySyntax = { maxLength: 200 };

/** Parses `order_by` (one of `fields`, optional " desc"/" asc"); "" means `fallback`. */
export function parseOrderBy<O extends string>(
  orderBy: string,
  fields: readonly O[],
  fallback: SortSpec<O>,
): SortSpec<O> {
  return parseListOrderBy(orderBy, fields, fallback, ORDER_SYNTAX);
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
