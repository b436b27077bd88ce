/** Resource names of the template API (AIP-122). */
export const TEMPLATE_PATTERN = "templates/{template}";
export const CATEGORY_PATTERN = "templateCategories/{template_category}";
export const TYPE_ID = /^[a-z][a-z0-9_]{2,62}$/;
export const SEMVER = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const templateName = (id: string) => `templates/${id}`;
export const versionName = (id: string, version: string) => `templates/${id}/versions/${version}`;
export const categoryName = (id: string) => `templateCategories/${id}`;
export const typeName = (id: string) => `templateTypes/${id}`;

/** "templateTypes/{id}" -> id, or null. */
export function parseTypeName(name: string): string | null {
  const m = /^templateTypes\/([^/]+)$/.exec(name);
  return m && TYPE_ID.test(m[1] as string) ? (m[1] as string) : null;
}

/** "templates/{uuid}/versions/{x.y.z|latest|approved}" -> parts, or null. */
export function parseVersionName(name: string): { templateId: string; version: string } | null {
  const m = /^templates\/([^/]+)\/versions\/([^/]+)$/.exec(name);
  if (!m || !UUID.test(m[1] as string)) return null;
  const v = m[2] as string;
  if (v !== "latest" && v !== "approved" && !SEMVER.test(v)) return null;
  return { templateId: (m[1] as string).toLowerCase(), version: v };
}
