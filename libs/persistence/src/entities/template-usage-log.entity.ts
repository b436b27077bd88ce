import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { jsonKind, matches } from "../sql-checks.js";
import { SEMVER_PATTERN } from "../value-sets.js";
import { idProperty } from "./common.js";
import { Task } from "./task.entity.js";
import { Template } from "./template.entity.js";

/** One render/use of a template (references OUR `tasks` table, unlike upstream). Append only. */
export const TemplateUsageLog = defineEntity({
  name: "TemplateUsageLog",
  tableName: "template_usage_logs",
  properties: {
    id: idProperty(),
    template: () => p.manyToOne(Template).ref().deleteRule("cascade"),
    templateVersion: p.string().length(32),
    task: () => p.manyToOne(Task).ref().nullable().deleteRule("set null"),
    workflowId: p.string().length(255).nullable(),
    usedBy: p.string().length(255),
    executionTimeMs: p.integer(),
    success: p.boolean(),
    errorMessage: p.text().nullable(),
    inputParameters: p.json<Record<string, unknown>>().columnType("jsonb").defaultRaw("'{}'::jsonb"),
    output: p.text().nullable(),
    usedAt: p
      .datetime()
      .columnType("timestamptz")
      .defaultRaw("now()")
      .onCreate(() => new Date()),
  },
  checks: [
    {
      name: "template_usage_logs_version_check",
      expression: matches("template_version", SEMVER_PATTERN, true),
    },
    { name: "template_usage_logs_execution_time_check", expression: "execution_time_ms >= 0" },
    {
      name: "template_usage_logs_input_parameters_check",
      expression: jsonKind("input_parameters", "object"),
    },
    { name: "template_usage_logs_error_check", expression: "success or error_message is not null" },
  ],
  indexes: [
    { name: "template_usage_logs_template_used_idx", properties: ["template", "usedAt"] },
    { name: "template_usage_logs_template_version_idx", properties: ["template", "templateVersion"] },
    { name: "template_usage_logs_task_idx", properties: ["task"] },
    { name: "template_usage_logs_used_by_idx", properties: ["usedBy", "usedAt"] },
    { name: "template_usage_logs_used_at_idx", properties: ["usedAt"] },
  ],
});

export type ITemplateUsageLog = InferEntity<typeof TemplateUsageLog>;
