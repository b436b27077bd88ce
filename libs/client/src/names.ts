/**
 * Resource-name helpers (AIP-122): the API names resources `tasks/{id}`, `templates/{id}`, ...; these build
 * names from ids (accepting a full name unchanged) and take the id back out.
 */

function nameOf(collection: string, idOrName: string): string {
  if (idOrName.startsWith(`${collection}/`)) return idOrName;
  if (idOrName === "" || idOrName.includes("/")) {
    throw new TypeError(`expected an id or "${collection}/{id}", got "${idOrName}"`);
  }
  return `${collection}/${idOrName}`;
}

export const names = {
  task: (id: string) => nameOf("tasks", id),
  template: (id: string) => nameOf("templates", id),
  templateType: (id: string) => nameOf("templateTypes", id),
  templateCategory: (id: string) => nameOf("templateCategories", id),
  sprint: (id: string) => nameOf("sprints", id),
  release: (id: string) => nameOf("releases", id),
  milestone: (id: string) => nameOf("milestones", id),
  alertRule: (id: string) => nameOf("alertRules", id),
  /** The last segment of a resource name (`tasks/abc/timeLogs/x` -> `x`). */
  id: (name: string) => name.slice(name.lastIndexOf("/") + 1),
  /** The parent of a nested resource name (`tasks/abc/timeLogs/x` -> `tasks/abc`). */
  parent: (name: string) => name.split("/").slice(0, -2).join("/"),
} as const;
