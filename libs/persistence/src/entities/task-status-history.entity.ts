import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { inSet, nullOrInSet } from "../sql-checks.js";
import { TASK_STATUSES, type TaskStatus } from "../value-sets.js";
import { idProperty } from "./common.js";
import { Task } from "./task.entity.js";

/** One row per status change (the creation of a task is a change from `null`). Append only. */
export const TaskStatusHistory = defineEntity({
  name: "TaskStatusHistory",
  tableName: "task_status_history",
  properties: {
    id: idProperty(),
    task: () => p.manyToOne(Task).ref().deleteRule("cascade"),
    fromStatus: p.string().length(16).$type<TaskStatus>().nullable(),
    toStatus: p.string().length(16).$type<TaskStatus>(),
    changedBy: p.string().length(255).nullable(),
    reason: p.text().nullable(),
    /** The transition table or open blockers were overridden (`force`). */
    forced: p.boolean().default(false),
    changedAt: p
      .datetime()
      .columnType("timestamptz")
      .defaultRaw("now()")
      .onCreate(() => new Date()),
  },
  checks: [
    { name: "task_status_history_from_status_check", expression: nullOrInSet("from_status", TASK_STATUSES) },
    { name: "task_status_history_to_status_check", expression: inSet("to_status", TASK_STATUSES) },
  ],
  indexes: [
    { name: "task_status_history_task_changed_idx", properties: ["task", "changedAt"] },
    { name: "task_status_history_changed_at_idx", properties: ["changedAt"] },
  ],
});

export type ITaskStatusHistory = InferEntity<typeof TaskStatusHistory>;
