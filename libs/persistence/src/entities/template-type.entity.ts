import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { jsonKind } from "../sql-checks.js";
import { createdAtProperty, idProperty, updatedAtProperty, versionProperty } from "./common.js";

/** Kind of template with the JSON Schema (draft 2020-12) its parameters must satisfy. */
export const TemplateType = defineEntity({
  name: "TemplateType",
  tableName: "template_types",
  properties: {
    id: idProperty(),
    name: p.string().length(64).unique("template_types_name_uniq"),
    displayName: p.string().length(255),
    description: p.text().nullable(),
    jsonSchema: p.json<Record<string, unknown>>().columnType("jsonb").defaultRaw("'{}'::jsonb"),
    validationRules: p.json<Record<string, unknown>>().columnType("jsonb").defaultRaw("'{}'::jsonb"),
    isActive: p.boolean().default(true),
    createdAt: createdAtProperty(),
    updatedAt: updatedAtProperty(),
    version: versionProperty(),
  },
  checks: [
    { name: "template_types_name_check", expression: "name ~ '^[a-z][a-z0-9_]{1,63}$'" },
    { name: "template_types_json_schema_check", expression: jsonKind("json_schema", "object") },
    { name: "template_types_validation_rules_check", expression: jsonKind("validation_rules", "object") },
  ],
});

export type ITemplateType = InferEntity<typeof TemplateType>;
