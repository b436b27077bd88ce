import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { inSet, jsonKind, matches } from "../sql-checks.js";
import { SEMVER_PATTERN, TEMPLATE_CHANGE_TYPES, type TemplateChangeType } from "../value-sets.js";
import { createdAtProperty, idProperty } from "./common.js";
import { Template } from "./template.entity.js";

/** Immutable snapshot of a template at a semantic version; a trigger refuses UPDATE. */
export const TemplateVersion = defineEntity({
  name: "TemplateVersion",
  tableName: "template_versions",
  properties: {
    id: idProperty(),
    template: () => p.manyToOne(Template).ref().deleteRule("cascade"),
    version: p.string().length(32),
    content: p.text(),
    variables: p.json<unknown[]>().columnType("jsonb").defaultRaw("'[]'::jsonb"),
    parameters: p.json<Record<string, unknown>>().columnType("jsonb").defaultRaw("'{}'::jsonb"),
    changeType: p.string().length(16).$type<TemplateChangeType>(),
    summary: p.text().nullable(),
    createdBy: p.string().length(255),
    createdAt: createdAtProperty(),
  },
  checks: [
    { name: "template_versions_version_check", expression: matches("version", SEMVER_PATTERN, true) },
    { name: "template_versions_change_type_check", expression: inSet("change_type", TEMPLATE_CHANGE_TYPES) },
    { name: "template_versions_variables_check", expression: jsonKind("variables", "array") },
    { name: "template_versions_parameters_check", expression: jsonKind("parameters", "object") },
  ],
  uniques: [{ name: "template_versions_template_version_uniq", properties: ["template", "version"] }],
  indexes: [{ name: "template_versions_template_created_idx", properties: ["template", "createdAt"] }],
  triggers: [
    {
      name: "template_versions_immutable",
      timing: "before",
      events: ["update"],
      forEach: "row",
      body: "raise exception 'template_versions rows are immutable' using errcode = 'check_violation';",
    },
  ],
});

export type ITemplateVersion = InferEntity<typeof TemplateVersion>;
