/** Request checks shared by the permission and review handlers. */
import { isUuid, parseResourceName, type Validator } from "@taskmaster/rpc-kit/validation";
import { filterError, type Restriction } from "./simple-filter.js";

/** "templates/{template}/{collection}/{id}" -> both ids (lower-case), or undefined after a violation. */
export function childName(
  v: Validator,
  field: string,
  collection: "permissions" | "reviews",
  name: string,
): { templateId: string; id: string } | undefined {
  const pattern = `templates/{template}/${collection}/{child}`;
  if (!v.required(field, name)) return undefined;
  const parsed = parseResourceName(pattern, name);
  if (!parsed.ok) {
    v.add(field, parsed.description, "INVALID_RESOURCE_NAME");
    return undefined;
  }
  return { templateId: parsed.ids.template as string, id: parsed.ids.child as string };
}

/** "templates/{template}" -> id; with `wildcard`, "templates/-" -> null. Undefined after a violation. */
export function templateParent(
  v: Validator,
  field: string,
  name: string,
  opts: { wildcard?: boolean } = {},
): string | null | undefined {
  if (!v.required(field, name)) return undefined;
  if (opts.wildcard && name === "templates/-") return null;
  const m = /^templates\/([^/]+)$/.exec(name);
  if (!m || !isUuid(m[1] as string)) {
    v.add(
      field,
      `must be a resource name of the form "templates/{template}" where {template} is a UUID${opts.wildcard ? ', or "templates/-"' : ""}`,
      "INVALID_RESOURCE_NAME",
    );
    return undefined;
  }
  return (m[1] as string).toLowerCase();
}

/** An RFC 3339 filter value as a Date. */
export function filterTime(r: Restriction): Date {
  const d = new Date(r.value);
  if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(r.value)) {
    throw filterError(r.field, "must be an RFC 3339 timestamp");
  }
  return d;
}

/** An enum filter value: accepts "APPROVED", "approved" or the full enum name with `prefix`. */
export function filterEnum<T extends string>(r: Restriction, prefix: string, allowed: readonly T[]): T {
  const value = r.value.toLowerCase().replace(new RegExp(`^${prefix.toLowerCase()}`), "") as T;
  if (!allowed.includes(value)) {
    throw filterError(r.field, `must be one of ${allowed.map((a) => a.toUpperCase()).join(", ")}`);
  }
  return value;
}

/** Only equality comparators for this filter field. */
export function equalityOnly(r: Restriction): "=" | "!=" {
  if (r.op !== "=" && r.op !== "!=") throw filterError(r.field, "supports only = and !=");
  return r.op;
}
