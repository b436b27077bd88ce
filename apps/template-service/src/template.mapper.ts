/** Rows -> TemplateService messages. */
import { create, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { type Duration, timestampFromDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import type { TemplateCategoryRow } from "@taskmaster/persistence/template-category.repository";
import type {
  TemplateChangeKind,
  TemplateRow,
  TemplateVersionRow,
} from "@taskmaster/persistence/template-row.mapper";
import type { TemplateTypeRow } from "@taskmaster/persistence/template-type.repository";
import {
  BuiltinTemplateType,
  type Template,
  type TemplateCategory,
  TemplateCategorySchema,
  TemplateChangeType,
  TemplateSchema,
  type TemplateType,
  TemplateTypeSchema,
  type TemplateVariable,
  TemplateVariableSchema,
  type TemplateVersion,
  TemplateVersionSchema,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import { categoryName, templateName, typeName, versionName } from "./template.names.js";

/** AIP-154 weak etag over the optimistic-lock version. */
export const etagOf = (version: number) => `W/"${version}"`;

function duration(ms: number): Duration {
  const whole = Math.max(0, Math.round(ms));
  return {
    $typeName: "google.protobuf.Duration",
    seconds: BigInt(Math.floor(whole / 1000)),
    nanos: (whole % 1000) * 1_000_000,
  };
}

export const CHANGE_KIND: Record<TemplateChangeKind, TemplateChangeType> = {
  major: TemplateChangeType.MAJOR,
  minor: TemplateChangeType.MINOR,
  patch: TemplateChangeType.PATCH,
  hotfix: TemplateChangeType.HOTFIX,
};

/** Change type enum -> stored kind (UNSPECIFIED means PATCH). */
export function changeKind(t: TemplateChangeType): TemplateChangeKind {
  switch (t) {
    case TemplateChangeType.MAJOR:
      return "major";
    case TemplateChangeType.MINOR:
      return "minor";
    case TemplateChangeType.HOTFIX:
      return "hotfix";
    default:
      return "patch";
  }
}

/** Stored variable JSON (snake_case keys) -> message. */
export function variableToMessage(v: Record<string, unknown>): TemplateVariable {
  return create(TemplateVariableSchema, {
    name: String(v.name ?? ""),
    description: String(v.description ?? ""),
    required: v.required === true,
    sensitive: v.sensitive === true,
    ...(v.default_value === undefined
      ? {}
      : { defaultValue: fromJson(ValueSchema, v.default_value as JsonValue) }),
  });
}

/** Message -> stored variable JSON. */
export function variableToJson(v: TemplateVariable): Record<string, unknown> {
  return {
    name: v.name,
    description: v.description,
    required: v.required,
    sensitive: v.sensitive,
    ...(v.defaultValue === undefined ? {} : { default_value: toJson(ValueSchema, v.defaultValue) }),
  };
}

export function templateToMessage(row: TemplateRow, opts: { omitContent?: boolean } = {}): Template {
  return create(TemplateSchema, {
    name: templateName(row.id),
    uid: row.id,
    slug: row.slug,
    title: row.title,
    description: row.description ?? "",
    templateType: typeName(row.typeName),
    category: row.categoryId === null ? "" : categoryName(row.categoryId),
    content: opts.omitContent ? "" : row.content,
    variables: row.variables.map(variableToMessage),
    parameters: row.parameters as Template["parameters"],
    tags: row.tags,
    version: row.currentVersion,
    active: row.isActive,
    public: row.isPublic,
    requiresApproval: row.requiresApproval,
    approvedVersion: row.approvedVersion ?? "",
    approvedBy: row.approvedBy ?? "",
    ...(row.approvedAt ? { approveTime: timestampFromDate(row.approvedAt) } : {}),
    ...(row.complexityScore === null ? {} : { complexityScore: row.complexityScore }),
    usageCount: BigInt(row.usageCount),
    successRate: row.successRate / 100,
    averageExecutionTime: duration(row.avgExecutionMs),
    ...(row.p95ExecutionMs === null ? {} : { p95ExecutionTime: duration(row.p95ExecutionMs) }),
    ...(row.lastUsedAt ? { lastUseTime: timestampFromDate(row.lastUsedAt) } : {}),
    owner: row.owner,
    createTime: timestampFromDate(row.createdAt),
    updateTime: timestampFromDate(row.updatedAt),
    ...(row.deletedAt ? { deleteTime: timestampFromDate(row.deletedAt) } : {}),
    etag: etagOf(row.version),
  });
}

export function versionToMessage(row: TemplateVersionRow): TemplateVersion {
  return create(TemplateVersionSchema, {
    name: versionName(row.templateId, row.version),
    version: row.version,
    changeType: CHANGE_KIND[row.changeType],
    changeSummary: row.summary ?? "",
    content: row.content,
    variables: row.variables.map(variableToMessage),
    parameters: row.parameters as TemplateVersion["parameters"],
    author: row.createdBy,
    rollbackOf: row.rollbackOf ?? "",
    approved: row.approved,
    createTime: timestampFromDate(row.createdAt),
  });
}

export function categoryToMessage(row: TemplateCategoryRow): TemplateCategory {
  return create(TemplateCategorySchema, {
    name: categoryName(row.id),
    uid: row.id,
    displayName: row.name,
    description: row.description ?? "",
    parent: row.parentId === null ? "" : categoryName(row.parentId),
    sortOrder: row.sortOrder,
    active: row.isActive,
    depth: row.depth,
    path: row.path,
    templateCount: row.templateCount,
    createTime: timestampFromDate(row.createdAt),
    updateTime: timestampFromDate(row.updatedAt),
    etag: etagOf(row.version),
  });
}

/** Ids of the nine built-in types. */
export const BUILTIN_TYPES: Record<string, BuiltinTemplateType> = {
  prompt_instruction: BuiltinTemplateType.PROMPT_INSTRUCTION,
  task_template: BuiltinTemplateType.TASK_TEMPLATE,
  workflow_template: BuiltinTemplateType.WORKFLOW_TEMPLATE,
  validation_template: BuiltinTemplateType.VALIDATION_TEMPLATE,
  deployment_script: BuiltinTemplateType.DEPLOYMENT_SCRIPT,
  configuration_template: BuiltinTemplateType.CONFIGURATION_TEMPLATE,
  code_snippet: BuiltinTemplateType.CODE_SNIPPET,
  documentation_template: BuiltinTemplateType.DOCUMENTATION_TEMPLATE,
  test_template: BuiltinTemplateType.TEST_TEMPLATE,
};

export function typeToMessage(row: TemplateTypeRow): TemplateType {
  return create(TemplateTypeSchema, {
    name: typeName(row.name),
    displayName: row.displayName,
    description: row.description ?? "",
    builtin: BUILTIN_TYPES[row.name] ?? BuiltinTemplateType.UNSPECIFIED,
    jsonSchema: JSON.stringify(row.jsonSchema),
    validationRules: row.validationRules as TemplateType["validationRules"],
    active: row.isActive,
    templateCount: row.templateCount,
    createTime: timestampFromDate(row.createdAt),
    updateTime: timestampFromDate(row.updatedAt),
    etag: etagOf(row.version),
  });
}
