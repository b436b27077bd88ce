import type { MikroORM } from "@mikro-orm/core";
import type { FilterSqlExpr } from "@taskmaster/persistence/filter-sql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { InvalidPageTokenError, TaskRepository } from "@taskmaster/persistence/task.repository";
import { taskFilterCondition } from "@taskmaster/persistence/task-filter.columns";
import { withCallerContext } from "@taskmaster/telemetry/caller-context";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

let db: TestDatabase;
let orm: MikroORM;
const repo = () => new TaskRepository(orm.em.fork());

async function query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

/** `field = text` of every pair, ANDed, as a task filter condition. */
const where = (...pairs: [string, string][]) =>
  taskFilterCondition({
    type: "and",
    args: pairs.map(
      ([field, text]): FilterSqlExpr => ({
        type: "cmp",
        field,
        path: [],
        op: "=",
        value: { type: "string", text },
      }),
    ),
  });

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await initOrm({ url: db.url, pool: { min: 0, max: 4 } });
});

afterAll(async () => {
  await orm?.close(true);
  await db?.drop();
});

describe("TaskRepository", () => {
  it("creates a task with its status history and outbox rows in one transaction", async () => {
    const t = await withCallerContext({ actor: "alice", traceId: "abc" }, () =>
      repo().create({
        title: "Implement the walking skeleton",
        priority: "high",
        labels: ["api"],
        storyPoints: 3,
      }),
    );
    expect(t.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/); // UUIDv7
    expect(t).toMatchObject({
      status: "pending",
      priority: "high",
      type: "task",
      version: 1,
      labels: ["api"],
    });
    expect(t.createdAt).toBeInstanceOf(Date);
    const history = await query(
      "select from_status, to_status, changed_by from task_status_history where task_id = $1",
      [t.id],
    );
    expect(history).toEqual([{ from_status: null, to_status: "pending", changed_by: "alice" }]);
    const outbox = await query<{
      event_kind: string;
      payload: { title: string };
      actor: string;
      trace_id: string;
    }>("select event_kind, payload, actor, trace_id from outbox_events where aggregate_id = $1", [t.id]);
    expect(outbox).toHaveLength(1);
    expect(outbox[0]?.event_kind).toBe("task.created");
    expect(outbox[0]).toMatchObject({ actor: "alice", trace_id: "abc" });
    expect(outbox[0]?.payload.title).toBe("Implement the walking skeleton");
  });

  it("creates a task from a title alone with every column's database default", async () => {
    // The create statement writes every column without a default (null when absent) and the defaulted ones
    // only when set: a column that gains a default must take it here too.
    const t = await repo().create({ title: "Defaults only" });
    const defaults = await query<{ column_name: string; column_default: string }>(
      `select column_name, column_default from information_schema.columns
       where table_schema = current_schema() and table_name = 'tasks' and column_default is not null
         and column_default not like '%now()%'`,
    );
    expect(defaults.map((d) => d.column_name)).toContain("priority");
    for (const { column_name, column_default } of defaults) {
      const [row] = await query<{ same: boolean }>(
        `select t.${column_name} is not distinct from (${column_default}) as same from tasks t where t.id = $1`,
        [t.id],
      );
      expect({ column: column_name, same: row?.same }).toEqual({ column: column_name, same: true });
    }
  });

  it("writes nothing when the task violates a constraint", async () => {
    const before = await query<{ n: string }>("select count(*) as n from outbox_events");
    await expect(repo().create({ title: "bad", storyPoints: 500 })).rejects.toThrow();
    const after = await query<{ n: string }>("select count(*) as n from outbox_events");
    expect(after).toEqual(before);
  });

  it("returns the first task for a retried request_id", async () => {
    const a = await repo().create({ title: "Idempotent create" }, "req-1");
    const b = await repo().create({ title: "Idempotent create" }, "req-1");
    expect(b.id).toBe(a.id);
    const [c, d] = await Promise.all([
      repo().create({ title: "Concurrent retry" }, "req-2"),
      repo().create({ title: "Concurrent retry" }, "req-2"),
    ]);
    expect(c.id).toBe(d.id);
    expect(await query("select id from tasks where title = 'Concurrent retry'")).toHaveLength(1);
  });

  it("gets by id and hides soft-deleted tasks", async () => {
    const t = await repo().create({ title: "Fetch me by id", description: "SQL ' ; -- and ünïcødé 🚀" });
    const got = await repo().getById(t.id);
    expect(got).toEqual(t);
    expect(await repo().getById("00000000-0000-7000-8000-000000000000")).toBeNull();
    await query("update tasks set deleted_at = now() where id = $1", [t.id]);
    expect(await repo().getById(t.id)).toBeNull();
    expect((await repo().getById(t.id, { includeDeleted: true }))?.id).toBe(t.id);
  });

  it("lists with keyset pagination (newest first by default) and compiled filters", async () => {
    const r = repo();
    const created: string[] = [];
    for (let i = 0; i < 7; i++) {
      const t = await r.create({
        title: `Paged task number ${i}`,
        status: i % 2 ? "ready" : "blocked",
        assignedTo: "pager",
        type: i < 3 ? "bug" : "feature",
      });
      created.push(t.id);
    }
    // Two rows with the exact same created_at must still page without repeats or gaps.
    await query("update tasks set created_at = '2030-01-01T00:00:00.123456Z' where id = any($1::uuid[])", [
      created.slice(5),
    ]);
    const pager = where(["assigned_to", "pager"]);
    const seen: string[] = [];
    let token: string | null = null;
    do {
      const page = await r.list({ pageSize: 3, pageToken: token, where: pager });
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((t) => t.id));
      token = page.nextPageToken;
    } while (token);
    expect([...seen].sort()).toEqual([...created].sort());
    expect(new Set(seen).size).toBe(seen.length);

    const asc = await r.list({
      pageSize: 100,
      orderBy: [{ field: "create_time", desc: false }],
      where: pager,
    });
    expect(asc.items.map((t) => t.id).sort()).toEqual([...seen].sort());
    const times = asc.items.map((t) => t.createdAt.getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));

    const ready = await r.list({
      where: where(["assigned_to", "pager"], ["status", "ready"]),
    });
    expect(ready.items.every((t) => t.status === "ready")).toBe(true);
    expect(ready.items).toHaveLength(3);
    const bugs = await r.list({
      where: where(["assigned_to", "pager"], ["type", "bug"], ["status", "blocked"]),
    });
    expect(bugs.items).toHaveLength(2);
  });

  it("rejects a malformed page token", async () => {
    await expect(repo().list({ pageToken: "not-a-token" })).rejects.toBeInstanceOf(InvalidPageTokenError);
    const forged = Buffer.from(JSON.stringify(["t1", "1; drop table tasks", "x", 0])).toString("base64url");
    await expect(repo().list({ pageToken: forged })).rejects.toBeInstanceOf(InvalidPageTokenError);
  });

  it("keeps the hierarchy and search vector", async () => {
    const r = repo();
    const epic = await r.create({ title: "Search epic for hierarchy", type: "epic" });
    const story = await r.create({
      title: "Story under the epic",
      type: "story",
      parentId: epic.id,
      epicId: epic.id,
    });
    const sub = await r.create({ title: "Subtask of the story", parentId: story.id, epicId: epic.id });
    expect(sub).toMatchObject({ parentId: story.id, epicId: epic.id });
    const hits = await query<{ id: string }>(
      "select id from tasks where search_vector @@ websearch_to_tsquery('english', 'hierarchy epic')",
    );
    expect(hits.map((h) => h.id)).toContain(epic.id);
    const fuzzy = await query<{ id: string }>("select id from tasks where title % 'Subtsk of the stroy'");
    expect(fuzzy.map((h) => h.id)).toContain(sub.id);
  });
});
