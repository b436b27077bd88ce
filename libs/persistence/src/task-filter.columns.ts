/**
 * The columns of `tasks t` that ListTasks-style filters (ListTasks, SearchTasks, NextTask, WatchTasks, work
 * queues, reports) compare, and the compilation of a checked filter tree against them.
 */
import type { RawBuilder } from "kysely";
import { type FilterColumn, type FilterSqlExpr, filterSql } from "./filter-sql.js";

/** A condition over `tasks t` (what {@link taskFilterCondition} returns). */
export type { RawBuilder } from "kysely";

import { TASK_COMPLEXITIES, TASK_PRIORITIES, TASK_STATUSES, TASK_TYPES } from "./value-sets.js";

/** Filterable task columns by ListTasks filter name (also the report-scope and time-log task filters). */
export const TASK_FILTER_COLUMNS: Readonly<Record<string, FilterColumn>> = {
  status: { expr: "t.status", type: "enum", values: TASK_STATUSES },
  priority: { expr: "t.priority", type: "enum", values: TASK_PRIORITIES },
  type: { expr: "t.type", type: "enum", values: TASK_TYPES },
  complexity: { expr: "t.complexity", type: "enum", values: TASK_COMPLEXITIES },
  assigned_to: { expr: "t.assigned_to", type: "text" },
  reporter: { expr: "t.reporter", type: "text" },
  category: { expr: "t.category", type: "text" },
  sprint: { expr: "t.sprint_id", type: "uuid" },
  release: { expr: "t.release_id", type: "uuid" },
  milestone: { expr: "t.milestone_id", type: "uuid" },
  epic: { expr: "t.epic_id", type: "uuid" },
  parent: { expr: "t.parent_id", type: "uuid" },
  labels: { expr: "t.labels", type: "text[]" },
  tags: { expr: "t.tags", type: "text[]" },
  story_points: { expr: "t.story_points", type: "int" },
  business_value: { expr: "t.business_value", type: "int" },
  risk_level: { expr: "t.risk_level", type: "int" },
  create_time: { expr: "t.created_at", type: "timestamptz" },
  update_time: { expr: "t.updated_at", type: "timestamptz" },
  due_time: { expr: "t.due_date", type: "timestamptz" },
  start_time: { expr: "t.started_at", type: "timestamptz" },
  complete_time: { expr: "t.completed_at", type: "timestamptz" },
  metadata: { expr: "t.metadata", type: "jsonb" },
  custom_fields: { expr: "t.custom_fields", type: "jsonb" },
};

/** A task filter tree as a condition over `tasks t` (`true` when empty). */
export function taskFilterCondition(expr: FilterSqlExpr | null): RawBuilder<unknown> {
  return filterSql(expr, TASK_FILTER_COLUMNS);
}
