/**
 * The columns ListTemplates (alias `x` templates joined with `ty` template_types) and ListTemplateVersions
 * (alias `x` template_versions) filter on, by filter field name, and their rendering to SQL fragments.
 */
import { conditionsSql, type ListColumn, type ListCondition } from "./filter-sql.js";
import type { RawBuilder } from "./sql-toolkit.js";

const TEMPLATE_COLUMNS: Readonly<Record<string, ListColumn>> = {
  slug: { expr: "x.name", cast: "text" },
  title: { expr: "x.title", cast: "text", has: "contains" },
  owner: { expr: "x.owner", cast: "text" },
  template_type: { expr: "ty.name", cast: "text" },
  category: { expr: "x.category_id", cast: "uuid" },
  tags: { expr: "x.tags", has: "element" },
  active: { expr: "x.is_active", cast: "boolean" },
  public: { expr: "x.is_public", cast: "boolean" },
  requires_approval: { expr: "x.requires_approval", cast: "boolean" },
  usage_count: { expr: "x.usage_count", cast: "int" },
  /** Stored as a percentage; conditions carry a fraction 0..1. */
  success_rate: { expr: "x.success_rate", cast: "numeric" },
  create_time: { expr: "x.created_at", cast: "timestamptz" },
  update_time: { expr: "x.updated_at", cast: "timestamptz" },
};

const VERSION_COLUMNS: Readonly<Record<string, ListColumn>> = {
  change_type: { expr: "x.change_type", cast: "text" },
  author: { expr: "x.created_by", cast: "text" },
  approved: {
    expr: "exists (select 1 from template_reviews rv where rv.template_id = x.template_id and rv.template_version = x.version and rv.status = 'approved')",
    cast: "boolean",
  },
  create_time: { expr: "x.created_at", cast: "timestamptz" },
};

/** A ListTemplates filter as ANDed conditions over `x`/`ty` (none when there are no conditions). */
export function templateFilterWhere(conditions: readonly ListCondition[]): RawBuilder<unknown>[] {
  return conditionsSql(
    conditions.map((c) =>
      c.field === "success_rate" && typeof c.value === "number" ? { ...c, value: c.value * 100 } : c,
    ),
    TEMPLATE_COLUMNS,
  );
}

/** A ListTemplateVersions filter as ANDed conditions over `x` (none when there are no conditions). */
export function versionFilterWhere(conditions: readonly ListCondition[]): RawBuilder<unknown>[] {
  return conditionsSql(conditions, VERSION_COLUMNS);
}
