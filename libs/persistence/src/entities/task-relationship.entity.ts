import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { between, inSet } from "../sql-checks.js";
import { RELATIONSHIP_TYPES, type RelationshipType } from "../value-sets.js";
import { createdAtProperty, idProperty } from "./common.js";
import { Task } from "./task.entity.js";

/** Directed, typed edge between two tasks; inverse pairs are maintained by the service layer. */
export const TaskRelationship = defineEntity({
  name: "TaskRelationship",
  tableName: "task_relationships",
  properties: {
    id: idProperty(),
    source: () => p.manyToOne(Task).ref().fieldName("source_task_id").deleteRule("cascade"),
    target: () => p.manyToOne(Task).ref().fieldName("target_task_id").deleteRule("cascade"),
    type: p.string().length(32).$type<RelationshipType>(),
    strength: p.smallint().default(5),
    note: p.text().nullable(),
    createdBy: p.string().length(255).nullable(),
    createdAt: createdAtProperty(),
  },
  checks: [
    { name: "task_relationships_type_check", expression: inSet("type", RELATIONSHIP_TYPES) },
    { name: "task_relationships_not_self_check", expression: "source_task_id <> target_task_id" },
    { name: "task_relationships_strength_check", expression: between("strength", 1, 10, true) },
  ],
  uniques: [{ name: "task_relationships_source_target_type_uniq", properties: ["source", "target", "type"] }],
  indexes: [
    { name: "task_relationships_target_idx", properties: ["target", "type"] },
    { name: "task_relationships_type_idx", properties: ["type"] },
  ],
});

export type ITaskRelationship = InferEntity<typeof TaskRelationship>;
