/**
 * The ListTasks filter and order_by: the typed field specs every task-filter field (ListTasks,
 * ListChildTasks, SearchTasks, NextTask, WatchTasks, work-queue selectors) accepts. Parsing is rpc-kit's
 * AIP-160 parser; the SQL is persistence's `taskFilterCondition` over the same field names.
 */

import { TASK_SORT_FIELDS, type TaskSortKey } from "@taskmaster/persistence/task.repository";
import { type RawBuilder, taskFilterCondition } from "@taskmaster/persistence/task-filter.columns";
import {
  TASK_COMPLEXITIES,
  TASK_PRIORITIES,
  TASK_STATUSES,
  TASK_TYPES,
} from "@taskmaster/persistence/value-sets";
import { type ExprFieldSpec, parseFilterExpression } from "@taskmaster/rpc-kit/filter-expression";
import { parseOrderKeys } from "@taskmaster/rpc-kit/list-query";

/** Filterable task fields: name -> kind (which decides the operators and the value syntax). */
export const TASK_FILTER_FIELDS: Readonly<Record<string, ExprFieldSpec>> = {
  status: { kind: "enum", values: TASK_STATUSES, enumPrefix: "TASK_STATUS_" },
  priority: { kind: "enum", values: TASK_PRIORITIES, enumPrefix: "TASK_PRIORITY_" },
  type: { kind: "enum", values: TASK_TYPES, enumPrefix: "TASK_TYPE_" },
  complexity: { kind: "enum", values: TASK_COMPLEXITIES, enumPrefix: "TASK_COMPLEXITY_" },
  assigned_to: { kind: "text" },
  reporter: { kind: "text" },
  category: { kind: "text" },
  sprint: { kind: "ref", prefix: "sprints/" },
  release: { kind: "ref", prefix: "releases/" },
  milestone: { kind: "ref", prefix: "milestones/" },
  epic: { kind: "ref", prefix: "tasks/" },
  parent: { kind: "ref", prefix: "tasks/" },
  labels: { kind: "array" },
  tags: { kind: "array" },
  story_points: { kind: "int" },
  business_value: { kind: "int" },
  risk_level: { kind: "int" },
  create_time: { kind: "time" },
  update_time: { kind: "time" },
  due_time: { kind: "time" },
  start_time: { kind: "time" },
  complete_time: { kind: "time" },
  metadata: { kind: "json" },
  custom_fields: { kind: "json" },
};

export interface CompiledFilter {
  /** The filter as a condition over `tasks t` (values are bind parameters). */
  condition: RawBuilder<unknown>;
  /** Top-level field names the filter mentions (e.g. "status", "metadata"). */
  fields: Set<string>;
}

/**
 * Parses a task filter and compiles it to a condition over `tasks t` (`true` when empty). `field` names the
 * request field in errors (e.g. "filter", "selector.filter").
 */
export function compileTaskFilter(input: string, field = "filter"): CompiledFilter {
  const { expr, fields } = parseFilterExpression(input, TASK_FILTER_FIELDS, field);
  return { condition: taskFilterCondition(expr), fields };
}

/**
 * `order_by`: comma-separated fields of {@link TASK_SORT_FIELDS}, each optionally followed by "asc" or
 * "desc". Empty means "create_time desc" (newest first).
 */
export function parseTaskOrderBy(input: string, field = "order_by"): TaskSortKey[] {
  return parseOrderKeys(input, TASK_SORT_FIELDS, [{ field: "create_time", desc: true }], field);
}
