/** Request checks shared by the permission and review handlers. */
import { isUuid, parseResourceName, type Validator } from "@taskmaster/rpc-kit/validation";

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
