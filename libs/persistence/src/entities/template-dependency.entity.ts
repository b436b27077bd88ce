import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { inSet, matches } from "../sql-checks.js";
import { SEMVER_PATTERN, TEMPLATE_DEPENDENCY_TYPES, type TemplateDependencyType } from "../value-sets.js";
import { createdAtProperty, idProperty } from "./common.js";
import { Template } from "./template.entity.js";

/** `template` includes/extends/requires/suggests `dependsOn`, optionally pinned to a version. */
export const TemplateDependency = defineEntity({
  name: "TemplateDependency",
  tableName: "template_dependencies",
  properties: {
    id: idProperty(),
    template: () => p.manyToOne(Template).ref().deleteRule("cascade"),
    dependsOn: () => p.manyToOne(Template).ref().fieldName("depends_on_template_id").deleteRule("cascade"),
    type: p.string().length(16).$type<TemplateDependencyType>(),
    pinnedVersion: p.string().length(32).nullable(),
    createdBy: p.string().length(255).nullable(),
    createdAt: createdAtProperty(),
  },
  checks: [
    { name: "template_dependencies_type_check", expression: inSet("type", TEMPLATE_DEPENDENCY_TYPES) },
    { name: "template_dependencies_not_self_check", expression: "template_id <> depends_on_template_id" },
    {
      name: "template_dependencies_pinned_version_check",
      expression: matches("pinned_version", SEMVER_PATTERN),
    },
  ],
  uniques: [{ name: "template_dependencies_uniq", properties: ["template", "dependsOn", "type"] }],
  indexes: [{ name: "template_dependencies_depends_on_idx", properties: ["dependsOn"] }],
});

export type ITemplateDependency = InferEntity<typeof TemplateDependency>;
