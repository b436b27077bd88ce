import type { MikroORM } from "@mikro-orm/core";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { seedDatabase } from "@taskmaster/persistence/seed";
import { TEMPLATE_TYPE_NAMES } from "@taskmaster/persistence/value-sets";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

let db: TestDatabase;
let orm: MikroORM;

async function counts(): Promise<Record<string, number>> {
  const rows = (await orm.em
    .fork()
    .getConnection()
    .execute(
      `select (select count(*) from template_types)::int as types,
              (select count(*) from template_categories)::int as categories,
              (select count(*) from template_categories where parent_id is not null)::int as child_categories,
              (select count(*) from sprints)::int as sprints,
              (select count(*) from releases)::int as releases,
              (select count(*) from tasks)::int as tasks,
              (select count(*) from tasks where type = 'epic')::int as epics,
              (select count(*) from tasks t join tasks p on p.id = t.parent_id where p.type = 'task')::int as subtasks,
              (select count(*) from task_status_history)::int as history`,
    )) as Record<string, number>[];
  return rows[0] ?? {};
}

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await initOrm({ url: db.url, pool: { min: 0, max: 2 } });
});

afterAll(async () => {
  await orm?.close(true);
  await db?.drop();
});

describe("seedDatabase", () => {
  it("seeds the nine template types, the category tree and demo tasks, idempotently", async () => {
    const first = await seedDatabase(orm);
    expect(first.templateTypes).toBe(9);
    expect(first.tasks).toBeGreaterThanOrEqual(20);
    const after1 = await counts();
    expect(after1).toMatchObject({ types: 9, sprints: 1, releases: 1, epics: 2 });
    expect(after1.child_categories).toBeGreaterThan(0);
    expect(after1.subtasks).toBeGreaterThan(0);

    const second = await seedDatabase(orm);
    expect(Object.values(second).every((n) => n === 0)).toBe(true);
    expect(await counts()).toEqual(after1);

    const names = (await orm.em
      .fork()
      .getConnection()
      .execute("select name from template_types order by name")) as {
      name: string;
    }[];
    expect(names.map((n) => n.name)).toEqual([...TEMPLATE_TYPE_NAMES].sort());
  });
});
