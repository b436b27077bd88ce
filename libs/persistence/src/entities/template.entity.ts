import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { between, jsonKind, matches } from "../sql-checks.js";
import { SEMVER_PATTERN } from "../value-sets.js";
import { idProperty, lifecycleProperties, timestampProperty } from "./common.js";
import { TemplateCategory } from "./template-category.entity.js";
import { TemplateType } from "./template-type.entity.js";

export const TEMPLATE_SEARCH_VECTOR_SQL =
  "setweight(to_tsvector('english'::regconfig, coalesce(name, '') || ' ' || coalesce(title, '')), 'A') || " +
  "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B') || " +
  "setweight(to_tsvector('english'::regconfig, coalesce(content, '')), 'C')";

/**
 * A reusable template. `content`/`variables`/`parameters` hold the current version; every change also
 * writes an immutable `template_versions` row. Statistics are recomputed from usage logs.
 */
export const Template = defineEntity({
  name: "Template",
  tableName: "templates",
  properties: {
    id: idProperty(),
    name: p.string().length(255).unique("templates_name_uniq"),
    title: p.string().length(255),
    description: p.text().nullable(),
    content: p.text(),
    variables: p.json<unknown[]>().columnType("jsonb").defaultRaw("'[]'::jsonb"),
    parameters: p.json<Record<string, unknown>>().columnType("jsonb").defaultRaw("'{}'::jsonb"),
    tags: p.array().columnType("text[]").defaultRaw("'{}'::text[]"),
    usageCount: p.integer().default(0),
    successRate: p.decimal("number").precision(5).scale(2).default(0),
    avgExecutionTimeMs: p.decimal("number").precision(12).scale(2).default(0),
    complexityScore: p.smallint().nullable(),
    isActive: p.boolean().default(true),
    isPublic: p.boolean().default(false),
    requiresApproval: p.boolean().default(false),
    approvedBy: p.string().length(255).nullable(),
    approvedAt: timestampProperty(),
    currentVersion: p.string().length(32).default("1.0.0"),
    category: () => p.manyToOne(TemplateCategory).ref().nullable().deleteRule("set null"),
    type: () => p.manyToOne(TemplateType).ref().deleteRule("restrict"),
    owner: p.string().length(255),
    ...lifecycleProperties(),
    searchVector: p
      .string()
      .columnType("tsvector")
      .generated(`(${TEMPLATE_SEARCH_VECTOR_SQL}) stored`)
      .lazy()
      .nullable(),
  },
  checks: [
    { name: "templates_name_check", expression: "char_length(btrim(name)) between 1 and 255" },
    { name: "templates_title_check", expression: "char_length(btrim(title)) between 1 and 255" },
    { name: "templates_variables_check", expression: jsonKind("variables", "array") },
    { name: "templates_parameters_check", expression: jsonKind("parameters", "object") },
    { name: "templates_usage_count_check", expression: "usage_count >= 0" },
    { name: "templates_success_rate_check", expression: between("success_rate", 0, 100, true) },
    { name: "templates_avg_execution_time_check", expression: "avg_execution_time_ms >= 0" },
    { name: "templates_complexity_score_check", expression: between("complexity_score", 1, 10) },
    { name: "templates_current_version_check", expression: matches("current_version", SEMVER_PATTERN, true) },
    { name: "templates_approval_check", expression: "(approved_by is null) = (approved_at is null)" },
    { name: "templates_owner_check", expression: "char_length(btrim(owner)) >= 1" },
  ],
  indexes: [
    { name: "templates_type_idx", properties: ["type"] },
    { name: "templates_category_idx", properties: ["category"] },
    { name: "templates_active_public_idx", properties: ["isActive", "isPublic"] },
    { name: "templates_usage_idx", properties: ["usageCount", "successRate"] },
    { name: "templates_owner_idx", properties: ["owner"] },
    { name: "templates_created_at_id_idx", properties: ["createdAt", "id"] },
    { name: "templates_tags_gin_idx", properties: ["tags"], type: "gin" },
    { name: "templates_search_vector_idx", properties: ["searchVector"], type: "gin" },
    {
      name: "templates_title_trgm_idx",
      expression: "create index templates_title_trgm_idx on templates using gin (title gin_trgm_ops)",
    },
  ],
});

export type ITemplate = InferEntity<typeof Template>;
