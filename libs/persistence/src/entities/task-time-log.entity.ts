import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import type { TimeLogActivityType } from "../value-sets.js";
import { createdAtProperty, idProperty, timestampProperty } from "./common.js";
import { Sprint } from "./sprint.entity.js";
import { Task } from "./task.entity.js";

/**
 * Hours spent on a task. "No future dates" is enforced twice: strictly by the service (in the caller's
 * time zone) and loosely by the database as `log_date <= utc today + 1 day`, which stays true for every
 * row once true (time only moves forward), so dumps and restores never trip over it.
 */
export const TaskTimeLog = defineEntity({
  name: "TaskTimeLog",
  tableName: "task_time_logs",
  properties: {
    id: idProperty(),
    task: () => p.manyToOne(Task).ref().deleteRule("cascade"),
    /** The task's sprint when the entry was written (sums by sprint survive later moves). */
    sprint: () => p.manyToOne(Sprint).ref().nullable().deleteRule("set null"),
    userId: p.string().length(255),
    activityType: p.string().length(50).$type<TimeLogActivityType>().default("development"),
    description: p.text().nullable(),
    hours: p.decimal("number").precision(5).scale(2),
    /** Calendar date (`date` column), `YYYY-MM-DD`. */
    logDate: p.string().columnType("date").defaultRaw("current_date"),
    startedAt: timestampProperty(),
    endedAt: timestampProperty(),
    isBillable: p.boolean().default(false),
    createdAt: createdAtProperty(),
  },
  checks: [
    /** Free text (Migration20261206120000_time_log_activity_free_text): not blank, at most 50 characters. */
    { name: "task_time_logs_activity_type_check", expression: "char_length(btrim(activity_type)) >= 1" },
    { name: "task_time_logs_hours_check", expression: "hours > 0 and hours <= 24" },
    {
      name: "task_time_logs_log_date_check",
      expression: "log_date <= ((now() at time zone 'utc')::date + 1)",
    },
    { name: "task_time_logs_start_end_check", expression: "(started_at is null) = (ended_at is null)" },
    {
      name: "task_time_logs_end_after_start_check",
      expression: "started_at is null or ended_at > started_at",
    },
    { name: "task_time_logs_user_check", expression: "char_length(btrim(user_id)) >= 1" },
  ],
  indexes: [
    { name: "task_time_logs_task_idx", properties: ["task", "logDate"] },
    { name: "task_time_logs_user_date_idx", properties: ["userId", "logDate"] },
    { name: "task_time_logs_log_date_idx", properties: ["logDate"] },
    { name: "task_time_logs_sprint_idx", properties: ["sprint", "logDate"] },
    { name: "task_time_logs_created_idx", properties: ["createdAt", "id"] },
  ],
});

export type ITaskTimeLog = InferEntity<typeof TaskTimeLog>;
