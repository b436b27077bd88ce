/** Request validation of the template and version RPCs (every violation collected, then thrown once). */
import type { Template } from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import type { SearchTemplatesRequest } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { type Validator, validator } from "@taskmaster/rpc-kit/validation";
import { CATEGORY_PATTERN, parseTypeName, SEMVER, TEMPLATE_PATTERN } from "./template.names.js";

export const SLUG = /^[a-z][a-z0-9_]{2,99}$/;
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
export const MAX_CONTENT_BYTES = 1024 * 1024;
const MAX_PARAMETERS_BYTES = 64 * 1024;

/** Template fields an update_mask may name. */
export const TEMPLATE_MASK_FIELDS = [
  "slug",
  "title",
  "description",
  "template_type",
  "category",
  "content",
  "variables",
  "parameters",
  "tags",
  "active",
  "public",
  "requires_approval",
  "complexity_score",
] as const;
export type TemplateMaskField = (typeof TEMPLATE_MASK_FIELDS)[number];

/** Validates the given fields of `t` (all when `fields` is undefined); returns the parsed references. */
export function checkTemplateFields(
  v: Validator,
  t: Template,
  fields: ReadonlySet<TemplateMaskField>,
): { typeId: string | null; categoryId: string | null | undefined } {
  const p = "template";
  let typeId: string | null = null;
  let categoryId: string | null | undefined;
  if (fields.has("slug") && v.required(`${p}.slug`, t.slug)) {
    v.pattern(`${p}.slug`, t.slug, SLUG, "must match [a-z][a-z0-9_]{2,99}");
  }
  if (fields.has("title") && v.required(`${p}.title`, t.title)) v.length(`${p}.title`, t.title, 1, 255);
  if (fields.has("description")) v.maxLength(`${p}.description`, t.description, 10000);
  if (fields.has("template_type") && v.required(`${p}.template_type`, t.templateType)) {
    typeId = parseTypeName(t.templateType);
    if (typeId === null) {
      v.add(
        `${p}.template_type`,
        'must be "templateTypes/{id}" with id [a-z][a-z0-9_]{2,62}',
        "INVALID_RESOURCE_NAME",
      );
    }
  }
  if (fields.has("category")) {
    categoryId = t.category === "" ? null : v.resourceName(`${p}.category`, CATEGORY_PATTERN, t.category);
  }
  if (fields.has("content") && v.required(`${p}.content`, t.content)) {
    const bytes = Buffer.byteLength(t.content, "utf8");
    if (bytes > MAX_CONTENT_BYTES)
      v.add(`${p}.content`, `must be at most 1 MiB (got ${bytes} bytes)`, "TOO_LONG");
  }
  if (fields.has("variables")) {
    if (t.variables.length > 200) v.add(`${p}.variables`, "must have at most 200 variables", "TOO_MANY");
    const seen = new Set<string>();
    t.variables.slice(0, 200).forEach((x, i) => {
      const f = `${p}.variables[${i}]`;
      if (v.required(`${f}.name`, x.name)) {
        v.pattern(`${f}.name`, x.name, VARIABLE, "must match [A-Za-z_][A-Za-z0-9_]{0,63}");
        if (seen.has(x.name)) v.add(`${f}.name`, `duplicates variable "${x.name}"`, "DUPLICATE");
        seen.add(x.name);
      }
      v.maxLength(`${f}.description`, x.description, 500);
    });
  }
  if (fields.has("parameters") && t.parameters !== undefined) {
    const bytes = Buffer.byteLength(JSON.stringify(t.parameters), "utf8");
    if (bytes > MAX_PARAMETERS_BYTES)
      v.add(`${p}.parameters`, "must be at most 64 KiB serialized", "TOO_LONG");
  }
  if (fields.has("tags")) {
    if (t.tags.length > 50) v.add(`${p}.tags`, "must have at most 50 tags", "TOO_MANY");
    const seen = new Set<string>();
    t.tags.slice(0, 50).forEach((tag, i) => {
      v.length(`${p}.tags[${i}]`, tag, 1, 64);
      if (tag.trim() === "" && !v.has(`${p}.tags[${i}]`))
        v.add(`${p}.tags[${i}]`, "must not be blank", "REQUIRED");
      if (seen.has(tag)) v.add(`${p}.tags[${i}]`, `duplicates tag "${tag}"`, "DUPLICATE");
      seen.add(tag);
    });
  }
  if (fields.has("complexity_score")) v.range(`${p}.complexity_score`, t.complexityScore, 0, 100);
  return { typeId, categoryId };
}

export function checkRequestId(v: Validator, requestId: string): void {
  v.uuid("request_id", requestId);
}

/** A version field "x.y.z" (no leading zeros). */
export function checkVersion(v: Validator, field: string, value: string, required: boolean): void {
  if (value === "") {
    if (required) v.required(field, value);
    return;
  }
  if (!SEMVER.test(value))
    v.add(field, 'must be a semantic version "x.y.z" without leading zeros', "INVALID_VERSION");
}

export { validator };

/** The id of a "templates/{template}" name in `field`; INVALID_ARGUMENT otherwise. */
export function parseTemplateName(field: string, name: string): string {
  const v = validator();
  const id = v.resourceName(field, TEMPLATE_PATTERN, name);
  v.check();
  return id as string;
}

/** The fields an UpdateTemplate `update_mask` names ("*" is all), collecting violations in `v`. */
export function checkUpdateMask(v: Validator, paths: readonly string[]): Set<TemplateMaskField> {
  const fields = new Set<TemplateMaskField>();
  if (!v.required("update_mask", paths)) return fields;
  for (const p of paths) {
    if (p === "*") for (const f of TEMPLATE_MASK_FIELDS) fields.add(f);
    else if ((TEMPLATE_MASK_FIELDS as readonly string[]).includes(p)) fields.add(p as TemplateMaskField);
    else {
      v.add(
        "update_mask",
        `unknown or immutable field "${p}" (updatable: ${TEMPLATE_MASK_FIELDS.join(", ")})`,
        "INVALID_FIELD_MASK",
      );
    }
  }
  return fields;
}

/** SearchTemplates' order_by values and the repository order each means. */
const SEARCH_ORDERS: Record<string, "relevance" | "usage" | "success" | "usage_success"> = {
  relevance: "relevance",
  "usage_count desc": "usage",
  "success_rate desc": "success",
  "usage_count desc, success_rate desc": "usage_success",
};

/** Checks a SearchTemplates request (every violation at once); relevance needs a query, else usage. */
export function validateSearch(req: SearchTemplatesRequest): {
  pageSize: number;
  typeName: string | null;
  categoryId: string | null;
  order: "relevance" | "usage" | "success" | "usage_success";
} {
  const v = validator();
  v.maxLength("query", req.query, 500);
  const pageSize = v.pageSize("page_size", req.pageSize, { defaultSize: 20, max: 100 });
  let typeName: string | null = null;
  if (req.templateType !== "") {
    typeName = parseTypeName(req.templateType);
    if (typeName === null) {
      v.add(
        "template_type",
        'must be "templateTypes/{id}" with id [a-z][a-z0-9_]{2,62}',
        "INVALID_RESOURCE_NAME",
      );
    }
  }
  const categoryId = req.category === "" ? null : v.resourceName("category", CATEGORY_PATTERN, req.category);
  if (req.tags.length > 50) v.add("tags", "must have at most 50 tags", "TOO_MANY");
  req.tags.slice(0, 50).forEach((tag, i) => {
    v.length(`tags[${i}]`, tag, 1, 64);
  });
  const orderKey = req.orderBy
    .trim()
    .replace(/\s+/g, " ")
    .replace(/\s*,\s*/g, ", ");
  const hasQuery = req.query.trim() !== "";
  let order = orderKey === "" ? (hasQuery ? "relevance" : "usage_success") : SEARCH_ORDERS[orderKey];
  if (order === undefined) {
    v.add("order_by", `must be one of: ${Object.keys(SEARCH_ORDERS).join("; ")}`, "INVALID_ORDER_BY");
  } else if (order === "relevance" && !hasQuery) {
    order = "usage_success";
  }
  v.check();
  return { pageSize, typeName, categoryId: categoryId ?? null, order: order as "relevance" };
}
