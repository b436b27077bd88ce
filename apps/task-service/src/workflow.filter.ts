/**
 * Field specs of the sub-resource lists (status history, comments, time logs) and of the task filters of the
 * reports, read by rpc-kit's `parseListFilter` / `listQueryOf` in its `SUBRESOURCE_SYNTAX` dialect.
 */
import {
  TaskComplexitySchema,
  TaskPrioritySchema,
  TaskStatusSchema,
  TaskTypeSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import type { ListFieldSpec } from "@taskmaster/rpc-kit/list-filter";
import { complexityCodec, priorityCodec, statusCodec, typeCodec } from "./task.mapper.js";

/** A task status (short or full name), stored lower-case. */
export const TASK_STATUS_FIELD: ListFieldSpec = {
  kind: "enum",
  desc: TaskStatusSchema,
  toDb: (n) => statusCodec.toDb(n),
};

/**
 * Task fields for report scopes and time-log task filters (the comparison subset of the ListTasks filter:
 * conjunctions only, no OR/NOT/has).
 */
export const TASK_SCOPE_FIELDS: Readonly<Record<string, ListFieldSpec>> = {
  status: TASK_STATUS_FIELD,
  priority: { kind: "enum", desc: TaskPrioritySchema, toDb: (n) => priorityCodec.toDb(n) },
  type: { kind: "enum", desc: TaskTypeSchema, toDb: (n) => typeCodec.toDb(n) },
  complexity: { kind: "enum", desc: TaskComplexitySchema, toDb: (n) => complexityCodec.toDb(n) },
  assigned_to: { kind: "string" },
  reporter: { kind: "string" },
  sprint: { kind: "name", pattern: "sprints/{sprint}" },
  release: { kind: "name", pattern: "releases/{release}" },
  milestone: { kind: "name", pattern: "milestones/{milestone}" },
  epic: { kind: "name", pattern: "tasks/{task}" },
  parent: { kind: "name", pattern: "tasks/{task}" },
  story_points: { kind: "number" },
  business_value: { kind: "number" },
  create_time: { kind: "timestamp" },
  update_time: { kind: "timestamp" },
  due_time: { kind: "timestamp" },
  start_time: { kind: "timestamp" },
  complete_time: { kind: "timestamp" },
};
