/**
 * Filters of ListTemplates and ListTemplateVersions: the field specs and the checks that turn a parsed
 * filter into typed conditions (persistence's template-filter.columns renders them as SQL).
 */
import type { ListCondition, ListOp } from "@taskmaster/persistence/filter-sql";
import { isUuid } from "@taskmaster/rpc-kit/validation";
import { filterError, parseFilter, type Restriction } from "./simple-filter.js";
import { CATEGORY_PATTERN, parseTypeName } from "./template.names.js";

const EQUALITY = ["=", "!="] as const;
const ORDERED = ["=", "!=", "<", "<=", ">", ">="] as const;

/** ListTemplates filter fields. */
export const TEMPLATE_FILTER_FIELDS = [
  "slug",
  "title",
  "template_type",
  "category",
  "tags",
  "active",
  "public",
  "requires_approval",
  "owner",
  "usage_count",
  "success_rate",
  "create_time",
  "update_time",
] as const;

/** ListTemplateVersions filter fields. */
export const VERSION_FILTER_FIELDS = ["change_type", "author", "approved", "create_time"] as const;

function condition(r: Restriction, value: ListCondition["value"], ops: readonly string[]): ListCondition {
  if (!ops.includes(r.op)) throw filterError(r.field, `supports only ${ops.join(" ")}`);
  return { field: r.field, op: r.op as ListOp, value };
}

function bool(r: Restriction): boolean {
  if (r.value !== "true" && r.value !== "false") throw filterError(r.field, "must be true or false");
  return r.value === "true";
}

function timestamp(r: Restriction): Date {
  const d = new Date(r.value);
  if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(r.value)) {
    throw filterError(r.field, "must be an RFC 3339 timestamp");
  }
  return d;
}

function templateCondition(r: Restriction): ListCondition {
  switch (r.field) {
    case "title":
      return r.op === ":" ? { field: r.field, op: ":", value: r.value } : condition(r, r.value, EQUALITY);
    case "template_type": {
      const id = parseTypeName(r.value) ?? (/^[a-z][a-z0-9_]{2,62}$/.test(r.value) ? r.value : null);
      if (id === null) throw filterError(r.field, 'must be "templateTypes/{id}"');
      return condition(r, id, EQUALITY);
    }
    case "category": {
      if (r.value === "" || r.value === "null") return condition(r, null, EQUALITY);
      const m = /^templateCategories\/(.+)$/.exec(r.value);
      if (!m || !isUuid(m[1] as string)) throw filterError(r.field, `must be "${CATEGORY_PATTERN}"`);
      return condition(r, (m[1] as string).toLowerCase(), EQUALITY);
    }
    case "tags":
      if (r.op !== ":") throw filterError(r.field, 'supports only ":" (has)');
      return { field: r.field, op: ":", value: r.value };
    case "active":
    case "public":
    case "requires_approval":
      return condition(r, bool(r), EQUALITY);
    case "usage_count":
      if (!/^\d{1,9}$/.test(r.value)) throw filterError(r.field, "must be a non-negative integer");
      return condition(r, Number(r.value), ORDERED);
    case "success_rate": {
      const n = Number(r.value);
      if (!Number.isFinite(n) || n < 0 || n > 1)
        throw filterError(r.field, "must be a number between 0 and 1");
      return condition(r, n, ORDERED);
    }
    case "create_time":
    case "update_time":
      return condition(r, timestamp(r), ORDERED);
    default: // slug, owner
      return condition(r, r.value, EQUALITY);
  }
}

function versionCondition(r: Restriction): ListCondition {
  if (r.field !== "create_time" && r.op !== "=" && r.op !== "!=")
    throw filterError(r.field, "supports only = !=");
  switch (r.field) {
    case "change_type": {
      const kind = r.value.toLowerCase().replace(/^template_change_type_/, "");
      if (!["major", "minor", "patch", "hotfix"].includes(kind)) {
        throw filterError(r.field, "must be MAJOR, MINOR, PATCH or HOTFIX");
      }
      return condition(r, kind, EQUALITY);
    }
    case "approved":
      return condition(r, bool(r), EQUALITY);
    case "create_time": {
      const d = new Date(r.value);
      if (Number.isNaN(d.getTime()) || r.op === ":")
        throw filterError(r.field, "must be an RFC 3339 timestamp");
      return condition(r, d, ORDERED);
    }
    default: // author
      return condition(r, r.value, EQUALITY);
  }
}

/** Checks a ListTemplates filter; INVALID_ARGUMENT (INVALID_FILTER) naming `filter` on any mistake. */
export function templateFilterConditions(filter: string): ListCondition[] {
  return parseFilter(filter, TEMPLATE_FILTER_FIELDS).map(templateCondition);
}

/** Checks a ListTemplateVersions filter. */
export function versionFilterConditions(filter: string): ListCondition[] {
  return parseFilter(filter, VERSION_FILTER_FIELDS).map(versionCondition);
}
