import { migrateDown, migrateUp, migrationStatus } from "@taskmaster/persistence/migrate";
import { initOrm } from "@taskmaster/persistence/orm-config";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmptyTestDatabase, type EmptyTestDatabase } from "./test-database.js";

let db: EmptyTestDatabase;

/** User objects in `public` that are not owned by an extension, besides the migrator's own table. */
async function schemaObjects(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ name: string }>(`
      select c.relkind::text || ':' || c.relname as name from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relname not like 'mikro_orm_migrations%'
         and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
      union all
      select 'f:' || p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where n.nspname = 'public'
         and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
      union all
      select 'x:' || extname from pg_extension where extname <> 'plpgsql'
      order by 1`);
    return r.rows.map((row) => row.name);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  db = await createEmptyTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

describe("migrations", () => {
  it("migrate up creates the whole schema, down reverts to an empty schema, up again works", async () => {
    const orm = await initOrm({ url: db.url, pool: { min: 0, max: 2 } });
    try {
      expect(await schemaObjects(db.url)).toEqual([]);
      const applied = await migrateUp(orm);
      expect(applied.length).toBeGreaterThan(0);
      const status = await migrationStatus(orm);
      expect(status.pending).toEqual([]);
      const objects = await schemaObjects(db.url);
      for (const table of [
        "tasks",
        "sprints",
        "releases",
        "milestones",
        "task_relationships",
        "task_comments",
        "task_attachments",
        "task_time_logs",
        "task_status_history",
        "templates",
        "template_categories",
        "template_types",
        "template_versions",
        "template_usage_logs",
        "template_dependencies",
        "template_permissions",
        "template_reviews",
        "audit_log",
        "outbox_events",
        "idempotency_keys",
        "security_events",
      ]) {
        // audit_log is partitioned by month (relkind p).
        expect(objects).toContain(table === "audit_log" ? "p:audit_log" : `r:${table}`);
      }
      expect(objects).toContain("i:tasks_title_trgm_idx");
      expect(objects).toContain("i:tasks_search_vector_idx");
      expect(objects).toContain("x:pg_trgm");

      const reverted = await migrateDown(orm, { all: true });
      expect(reverted).toEqual([...applied].reverse());
      expect(await schemaObjects(db.url)).toEqual([]);
      expect((await migrationStatus(orm)).executed).toEqual([]);

      expect(await migrateUp(orm)).toEqual(applied);
      expect(await migrateUp(orm)).toEqual([]);
    } finally {
      await orm.close(true);
    }
  });

  it("the outbox pruning watermark starts from what an existing outbox already lost", async () => {
    const fresh = await createEmptyTestDatabase();
    const orm = await initOrm({ url: fresh.url, pool: { min: 0, max: 2 } });
    const c = new pg.Client({ connectionString: fresh.url });
    await c.connect();
    try {
      await orm.migrator.up({ to: "Migration20261206230000_backup_safety" });
      const ids = await c.query<{ id: string }>(
        `insert into outbox_events (aggregate_type, aggregate_id, event_kind)
         select 'task', gen_random_uuid(), 'task.updated' from generate_series(1, 3) returning id::text`,
      );
      await c.query("delete from outbox_events where id = $1", [ids.rows[0]?.id]);
      const through = async () => (await c.query("select through_id::text as id from outbox_pruned")).rows;
      // Kept events: everything below the oldest kept one was pruned.
      await orm.migrator.up({ to: "Migration20261206233000_outbox_pruned" });
      expect(await through()).toEqual([{ id: ids.rows[0]?.id }]);
      // An emptied outbox: every id handed out was pruned.
      await orm.migrator.down({ to: "Migration20261206230000_backup_safety" });
      expect((await c.query("select to_regclass('outbox_pruned') as t")).rows).toEqual([{ t: null }]);
      await c.query("delete from outbox_events");
      await orm.migrator.up({ to: "Migration20261206233000_outbox_pruned" });
      expect(await through()).toEqual([{ id: ids.rows[2]?.id }]);
    } finally {
      await c.end();
      await orm.close(true);
      await fresh.drop();
    }
  });

  it("entities and the committed snapshot agree (no pending schema diff)", async () => {
    const orm = await initOrm({ url: db.url, pool: { min: 0, max: 2 } });
    try {
      expect(await orm.migrator.checkSchema()).toBe(false);
    } finally {
      await orm.close(true);
    }
  });
});
