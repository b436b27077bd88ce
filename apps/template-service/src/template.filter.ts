/**
 * What the template service's List RPCs filter and sort by: typed field specs read by rpc-kit's
 * `listQueryOf` / `parseListFilter` in its TEMPLATE_SYNTAX dialect (persistence renders the conditions).
 */

import type { DescEnum } from "@bufbuild/protobuf";
import type { TemplateSortField } from "@taskmaster/persistence/template.repository";
import type { CategorySortField } from "@taskmaster/persistence/template-category.repository";
import type { ReviewSortField } from "@taskmaster/persistence/template-review.repository";
import type { UsageSortField } from "@taskmaster/persistence/template-usage.repository";
import {
  TemplateDependencyTypeSchema,
  TemplatePermissionLevelSchema,
  TemplateReviewStatusSchema,
  TemplateReviewTypeSchema,
} from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import { TemplateChangeTypeSchema } from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import { enumCodec } from "@taskmaster/rpc-kit/enum-codec";
import {
  type DialectListSpec,
  type ListFieldSpec,
  type ListFilterSyntax,
  TEMPLATE_SYNTAX,
} from "@taskmaster/rpc-kit/list-filter";
import { CATEGORY_PATTERN, parseTypeName, SEMVER, TYPE_ID } from "./template.names.js";

/** An enum stored as its lower-case short name. */
function enumField(desc: DescEnum): ListFieldSpec {
  const codec = enumCodec(desc);
  return { kind: "enum", desc, toDb: (n) => codec.toDb(n) };
}

const bool: ListFieldSpec = { kind: "bool" };
const text: ListFieldSpec = { kind: "string" };
/** A date-time the JavaScript Date parser reads, starting with YYYY-MM-DD. */
const time: ListFieldSpec = { kind: "timestamp", format: "date-first" };

/** ListTemplates. */
export const TEMPLATES: DialectListSpec<
  | "slug"
  | "title"
  | "template_type"
  | "category"
  | "tags"
  | "active"
  | "public"
  | "requires_approval"
  | "owner"
  | "usage_count"
  | "success_rate"
  | "create_time"
  | "update_time",
  TemplateSortField
> = {
  fields: {
    slug: text,
    title: { kind: "string", ops: ["=", "!=", ":"] },
    template_type: {
      kind: "custom",
      parse: (t) => parseTypeName(t) ?? (TYPE_ID.test(t) ? t : undefined),
      expected: '"templateTypes/{id}"',
    },
    category: { kind: "name", pattern: CATEGORY_PATTERN, nullable: true, nullWord: true },
    tags: { kind: "string", ops: [":"] },
    active: bool,
    public: bool,
    requires_approval: bool,
    owner: text,
    usage_count: { kind: "int", unsigned: true },
    success_rate: { kind: "number", min: 0, max: 1 },
    create_time: time,
    update_time: time,
  },
  syntax: TEMPLATE_SYNTAX,
  orderFields: ["title", "slug", "usage_count", "success_rate", "create_time", "update_time"],
  defaultOrder: { field: "title", desc: false },
};

/** ListTemplateVersions (no order_by). */
export const VERSION_FIELDS: Readonly<
  Record<"change_type" | "author" | "approved" | "create_time", ListFieldSpec>
> = {
  change_type: enumField(TemplateChangeTypeSchema),
  author: text,
  approved: bool,
  create_time: { kind: "timestamp", format: "any" },
};

/** ListTemplateUsageLogs. */
export const USAGE_LOGS: DialectListSpec<
  "version" | "used_by" | "success" | "task" | "workflow_id" | "create_time",
  UsageSortField
> = {
  fields: {
    version: { kind: "string", pattern: SEMVER, expected: 'a version "x.y.z"' },
    used_by: text,
    success: bool,
    task: { kind: "name", pattern: "tasks/{task}" },
    workflow_id: text,
    create_time: time,
  },
  syntax: TEMPLATE_SYNTAX,
  orderFields: ["create_time", "execution_time"],
  defaultOrder: { field: "create_time", desc: true },
};

/** ListTemplateTypes. */
export const TYPES: DialectListSpec<"active" | "builtin" | "display_name", "display_name" | "create_time"> = {
  fields: { active: bool, builtin: bool, display_name: text },
  syntax: TEMPLATE_SYNTAX,
  orderFields: ["display_name", "create_time"],
  defaultOrder: { field: "display_name", desc: false },
};

/** ListTemplateCategories. */
export const CATEGORIES: DialectListSpec<"parent" | "active" | "display_name", CategorySortField> = {
  fields: {
    parent: { kind: "name", pattern: CATEGORY_PATTERN, nullable: true, nullWord: true },
    active: bool,
    display_name: text,
  },
  syntax: TEMPLATE_SYNTAX,
  orderFields: ["display_name", "sort_order", "create_time"],
  defaultOrder: { field: "sort_order", desc: false },
};

/** ListTemplateReviews. */
export const REVIEWS: DialectListSpec<"status" | "review_type" | "version" | "reviewer", ReviewSortField> = {
  fields: {
    status: enumField(TemplateReviewStatusSchema),
    review_type: enumField(TemplateReviewTypeSchema),
    version: text,
    reviewer: text,
  },
  syntax: TEMPLATE_SYNTAX,
  orderFields: ["create_time", "decide_time"],
  defaultOrder: { field: "create_time", desc: true },
};

/** ListTemplatePermissions (no order_by). */
export const PERMISSION_FIELDS: Readonly<
  Record<"user" | "role" | "team" | "permission" | "expire_time", ListFieldSpec>
> = {
  user: text,
  role: text,
  team: text,
  permission: enumField(TemplatePermissionLevelSchema),
  expire_time: time,
};

/** ListTemplateDependencies: at most one comparison, `type = X`. */
export const DEPENDENCY_FIELDS: Readonly<Record<"type", ListFieldSpec>> = {
  type: { ...enumField(TemplateDependencyTypeSchema), ops: ["="] },
};
export const DEPENDENCY_SYNTAX: ListFilterSyntax = {
  ...TEMPLATE_SYNTAX,
  scan: { ...TEMPLATE_SYNTAX.scan, maxComparisons: 1 },
};
