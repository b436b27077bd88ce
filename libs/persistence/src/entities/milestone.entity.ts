import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { inSet } from "../sql-checks.js";
import { MILESTONE_STATUSES, type MilestoneStatus } from "../value-sets.js";
import { idProperty, lifecycleProperties, timestampProperty } from "./common.js";
import { Release } from "./release.entity.js";

/** A checkpoint, optionally inside a release; tasks point at it through `tasks.milestone_id`. */
export const Milestone = defineEntity({
  name: "Milestone",
  tableName: "milestones",
  properties: {
    id: idProperty(),
    name: p.string().length(255),
    description: p.text().nullable(),
    status: p.string().length(16).$type<MilestoneStatus>().default("open"),
    dueDate: timestampProperty(),
    reachedAt: timestampProperty(),
    release: () => p.manyToOne(Release).ref().nullable().deleteRule("set null"),
    ...lifecycleProperties(),
  },
  checks: [
    { name: "milestones_name_length_check", expression: "char_length(btrim(name)) between 1 and 255" },
    { name: "milestones_status_check", expression: inSet("status", MILESTONE_STATUSES) },
  ],
  indexes: [
    { name: "milestones_status_idx", properties: ["status"] },
    { name: "milestones_release_id_idx", properties: ["release"] },
    { name: "milestones_due_date_idx", properties: ["dueDate"] },
  ],
});

export type IMilestone = InferEntity<typeof Milestone>;
