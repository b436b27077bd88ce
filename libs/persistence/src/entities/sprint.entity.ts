import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { inSet } from "../sql-checks.js";
import { SPRINT_STATUSES, type SprintStatus } from "../value-sets.js";
import { idProperty, lifecycleProperties, timestampProperty } from "./common.js";

/** A time-boxed iteration; tasks point at it through `tasks.sprint_id`. */
export const Sprint = defineEntity({
  name: "Sprint",
  tableName: "sprints",
  properties: {
    id: idProperty(),
    name: p.string().length(255),
    goal: p.text().nullable(),
    status: p.string().length(16).$type<SprintStatus>().default("planned"),
    startsAt: timestampProperty(),
    endsAt: timestampProperty(),
    capacityPoints: p.integer().nullable(),
    closedAt: timestampProperty(),
    ...lifecycleProperties(),
  },
  checks: [
    { name: "sprints_name_length_check", expression: "char_length(btrim(name)) between 1 and 255" },
    { name: "sprints_status_check", expression: inSet("status", SPRINT_STATUSES) },
    {
      name: "sprints_dates_check",
      expression: "starts_at is null or ends_at is null or ends_at > starts_at",
    },
    { name: "sprints_capacity_points_check", expression: "capacity_points is null or capacity_points >= 0" },
  ],
  indexes: [
    { name: "sprints_status_idx", properties: ["status"] },
    { name: "sprints_starts_at_idx", properties: ["startsAt"] },
  ],
  uniques: [
    {
      name: "sprints_name_live_uniq",
      expression: "create unique index sprints_name_live_uniq on sprints (name) where deleted_at is null",
    },
  ],
});

export type ISprint = InferEntity<typeof Sprint>;
