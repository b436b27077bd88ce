/**
 * Least privilege (issue 8) with real LOGIN users, not `SET ROLE` from a superuser: what a member of
 * `taskmaster_app` (the services), `taskmaster_retention` (the audit retention job) and
 * `taskmaster_readonly` (reporting) can and cannot do, and the services' start-up check of their role.
 * The services' own test suites run their servers as {@link TEST_APP_USER} (`TestDatabase.appUrl`).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { DatabaseRoleError } from "@taskmaster/persistence/database-role";
import { openServiceDatabase } from "@taskmaster/persistence/service-database";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, TEST_APP_USER, type TestDatabase, withUser } from "./test-database.js";

let db: TestDatabase;
let admin: pg.Client;
let app: pg.Client;
/** Login users created for this file (dropped at the end; roles are cluster-wide). */
const users: Record<"readonly" | "retention" | "owner", { name: string; url: string }> = {
  readonly: { name: "", url: "" },
  retention: { name: "", url: "" },
  owner: { name: "", url: "" },
};
const PASSWORD = "least-privilege-spec";

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

/** SQLSTATE of the failure of `sql` (in its own transaction, rolled back), or "ok". */
async function outcome(c: pg.Client, sql: string): Promise<string> {
  await c.query("begin");
  try {
    await c.query(sql);
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? "error";
  } finally {
    await c.query("rollback");
  }
}

function monthPartition(date: Date): string {
  return `audit_log_p${date.getUTCFullYear()}${String(date.getUTCMonth() + 1).padStart(2, "0")}`;
}

beforeAll(async () => {
  db = await createTestDatabase();
  admin = await connect(db.url);
  const suffix = randomBytes(4).toString("hex");
  for (const [kind, group] of [
    ["readonly", "taskmaster_readonly"],
    ["retention", "taskmaster_retention"],
    ["owner", "taskmaster_owner"],
  ] as const) {
    const name = `tm_lp_${suffix}_${kind}`;
    await admin.query(`create role ${name} login password '${PASSWORD}' in role ${group}`);
    users[kind] = { name, url: withUser(db.url, name, PASSWORD) };
  }
  app = await connect(db.appUrl);
});

afterAll(async () => {
  await app?.end();
  for (const { name } of Object.values(users)) if (name) await admin?.query(`drop role if exists ${name}`);
  await admin?.end();
  await db?.drop();
});

describe("a LOGIN user in taskmaster_app (the services)", () => {
  it("is that user, no superuser and not the owner", async () => {
    const r = await app.query<{ u: string; s: boolean }>(
      "select current_user as u, rolsuper as s from pg_roles where rolname = current_user",
    );
    expect(r.rows[0]).toEqual({ u: TEST_APP_USER, s: false });
  });

  it("does the services' work: DML on application tables, audited, sealed and verified", async () => {
    const id = randomUUID();
    await app.query("insert into tasks (id, title) values ($1, 'least privilege')", [id]);
    await app.query("update tasks set title = 'renamed', version = version + 1 where id = $1", [id]);
    await app.query(
      "insert into task_comments (id, task_id, author, content) values (gen_random_uuid(), $1, 'a', 'hi')",
      [id],
    );
    await app.query("update tasks set deleted_at = now() where id = $1", [id]);
    const audit = await app.query<{ action: string }>(
      "select action from audit_log where entity_id = $1 order by seq",
      [id],
    );
    expect(audit.rows.map((r) => r.action)).toEqual(["create", "update", "delete"]);
    expect((await app.query<{ n: number }>("select audit_seal() as n")).rows[0]?.n).toBeGreaterThan(0);
    expect((await app.query("select * from audit_verify(5)")).rows).toEqual([]);
  });

  it("reads the outbox's pruning watermark, which deletes (its own too) and truncates advance", async () => {
    await app.query("begin");
    try {
      const { rows } = await app.query<{ id: string }>(
        "insert into outbox_events (aggregate_type, aggregate_id, event_kind) values ('task', gen_random_uuid(), 'task.updated') returning id::text",
      );
      await app.query("delete from outbox_events where id = $1", [rows[0]?.id]);
      const pruned = await app.query("select through_id::text as id from outbox_pruned");
      expect(pruned.rows).toEqual([{ id: rows[0]?.id }]);
    } finally {
      await app.query("rollback");
    }
    // A truncate (the owner's) names no rows: every id handed out counts as pruned.
    await admin.query("begin");
    try {
      await admin.query(
        "insert into outbox_events (aggregate_type, aggregate_id, event_kind) values ('task', gen_random_uuid(), 'task.updated')",
      );
      await admin.query("truncate outbox_events");
      const r = await admin.query(
        "select through_id = pg_sequence_last_value('outbox_events_id_seq') and through_id > 0 as ok from outbox_pruned",
      );
      expect(r.rows).toEqual([{ ok: true }]);
    } finally {
      await admin.query("rollback");
    }
  });

  it("cannot alter, drop or create tables, rewrite audit history, run retention or switch triggers off", async () => {
    const partition = monthPartition(new Date());
    const denied = [
      "alter table tasks add column evil int",
      "alter table tasks disable trigger tasks_audit",
      "alter table audit_log disable trigger all",
      "drop table task_comments",
      "create table evil (id int)",
      "create index evil_idx on tasks (title)",
      "update audit_log set actor = 'mallory'",
      "delete from audit_log",
      "truncate audit_log",
      `update ${partition} set actor = 'mallory'`,
      `delete from ${partition}`,
      `truncate ${partition}`,
      "delete from audit_log_default",
      "update audit_chain_state set anchors = '{}'",
      "update outbox_pruned set through_id = 0",
      "delete from outbox_pruned",
      "select * from audit_drop_expired(1)",
      "select audit_ensure_partitions(1)",
      "set session_replication_role = replica",
      "create role evil",
    ];
    const results = [];
    for (const sql of denied) results.push([sql, await outcome(app, sql)]);
    expect(results).toEqual(denied.map((sql) => [sql, "42501"]));
  });
});

describe("a LOGIN user in taskmaster_retention (the audit retention job)", () => {
  it("drops whole expired partitions through audit_drop_expired but cannot touch rows", async () => {
    // An expired month with rows, as the owner: rows land in the default partition, then get their own.
    await admin.query(
      `insert into audit_log (id, entity_type, entity_id, action, occurred_at)
       select gen_random_uuid(), 'task', 'expired-' || g, 'update', now() - interval '200 days' from generate_series(1, 2) g`,
    );
    await admin.query("select audit_ensure_partitions(3)");
    // A current row after them, so the chain's end survives retention.
    await admin.query("insert into tasks (id, title) values (gen_random_uuid(), 'current')");
    const expired = monthPartition(new Date(Date.now() - 200 * 86_400_000));
    const retention = await connect(users.retention.url);
    try {
      for (const sql of [
        "update audit_log set actor = 'mallory'",
        "delete from audit_log",
        `drop table ${expired}`,
        "insert into tasks (id, title) values (gen_random_uuid(), 'x')",
      ]) {
        expect([sql, await outcome(retention, sql)]).toEqual([sql, "42501"]);
      }
      const removed = await retention.query<{ partition_name: string; rows_removed: string }>(
        "select partition_name, rows_removed::text from audit_drop_expired(90)",
      );
      expect(removed.rows).toEqual([{ partition_name: expired, rows_removed: "2" }]);
    } finally {
      await retention.end();
    }
    expect((await admin.query("select to_regclass($1) as r", [expired])).rows[0]?.r).toBeNull();
    expect((await admin.query("select * from audit_verify(5)")).rows).toEqual([]);
  });
});

describe("a LOGIN user in taskmaster_readonly (reporting)", () => {
  it("reads and nothing else", async () => {
    const ro = await connect(users.readonly.url);
    try {
      expect(await outcome(ro, "select count(*) from tasks")).toBe("ok");
      expect(await outcome(ro, "select count(*) from audit_log")).toBe("ok");
      for (const sql of [
        "insert into tasks (id, title) values (gen_random_uuid(), 'x')",
        "update tasks set title = 'x'",
        "delete from tasks",
        "select audit_seal()",
        "select * from audit_drop_expired(90)",
        "create table evil (id int)",
      ]) {
        expect([sql, await outcome(ro, sql)]).toEqual([sql, "42501"]);
      }
    } finally {
      await ro.end();
    }
  });
});

describe("the services' start-up check of their database role", () => {
  const config = (url: string): Parameters<typeof openServiceDatabase>[0] => ({
    url,
    migrationUrl: undefined,
    ssl: { mode: "disable", caPath: undefined },
    pool: { min: 0, max: 1, idleTimeoutMs: 10_000, acquireTimeoutMs: 10_000 },
    queryTimeoutMs: 10_000,
    idleInTransactionTimeoutMs: 10_000,
    retry: { attempts: 1, initialDelayMs: 0, factor: 1, maxDelayMs: 0 },
  });

  async function refusal(url: string, profile: "production" | "staging"): Promise<string> {
    try {
      const orm = await openServiceDatabase(config(url), "least-privilege-spec", { profile });
      await orm.close(true);
    } catch (error) {
      expect(error).toBeInstanceOf(DatabaseRoleError);
      return (error as Error).message;
    }
    return "started";
  }

  it("production and staging refuse a superuser, the owner and a user outside taskmaster_app, in one line", async () => {
    const superuser = (await admin.query<{ u: string }>("select current_user as u")).rows[0]?.u;
    const message = await refusal(db.url, "production");
    expect(message).toMatch(
      new RegExp(
        `^refusing to start in the production profile: database user "${superuser}" is a superuser; `,
      ),
    );
    expect(message).not.toContain("\n");
    expect(await refusal(users.owner.url, "production")).toContain(`"${users.owner.name}" owns the schema`);
    expect(await refusal(users.readonly.url, "staging")).toContain(
      `"${users.readonly.name}" is not a member of taskmaster_app`,
    );
  });

  it("production accepts the application login; development runs as the owner but reports it", async () => {
    const seen: Array<[string, string | undefined]> = [];
    const orm = await openServiceDatabase(config(db.appUrl), "least-privilege-spec", {
      profile: "production",
      onRole: (role, problem) => seen.push([role.user, problem]),
    });
    await orm.close(true);
    const dev = await openServiceDatabase(config(db.url), "least-privilege-spec", {
      profile: "development",
      onRole: (role, problem) => seen.push([role.user, problem]),
    });
    await dev.close(true);
    expect(seen[0]).toEqual([TEST_APP_USER, undefined]);
    expect(seen[1]?.[1]).toMatch(/is a superuser$/);
  });
});
