/**
 * The audit mechanism in the database (migration `..._audit_trail`): row triggers on every audited table,
 * context from transaction-local settings, masking, the hash chain and its verification, monthly partitions
 * with retention, and the least-privilege roles. Real PostgreSQL, no mocks.
 */
import { randomUUID } from "node:crypto";
import { FREE_TEXT, KEYED } from "@taskmaster/config/masking-corpus";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

let db: TestDatabase;
let client: pg.Client;

interface AuditRow {
  seq: string;
  entity_type: string;
  entity_id: string;
  action: string;
  changed_fields: string[];
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
  actor: string | null;
  request_id: string | null;
  trace_id: string | null;
  client_ip: string | null;
  user_agent: string | null;
  prev_hash: string | null;
  hash: string | null;
}

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

async function auditRows(c: pg.Client, entityId: string): Promise<AuditRow[]> {
  const r = await c.query<AuditRow>("select * from audit_log where entity_id = $1 order by seq", [entityId]);
  return r.rows;
}

const CONTEXT = {
  actor: "alice@example.com",
  request_id: "req-123",
  trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
  client_ip: "203.0.113.7",
  user_agent: "audit-spec/1.0",
};

async function setContext(c: pg.Client, ctx: Record<string, string> = CONTEXT): Promise<void> {
  await c.query(
    `select set_config('taskmaster.actor', $1, true), set_config('taskmaster.request_id', $2, true),
            set_config('taskmaster.trace_id', $3, true), set_config('taskmaster.client_ip', $4, true),
            set_config('taskmaster.user_agent', $5, true)`,
    [ctx.actor, ctx.request_id, ctx.trace_id, ctx.client_ip, ctx.user_agent],
  );
}

async function pgError(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error("the statement should have failed");
}

beforeAll(async () => {
  db = await createTestDatabase();
  client = await connect(db.url);
});

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

describe("audit triggers", () => {
  it("records create, update, status_change, delete (soft), restore and purge with context", async () => {
    const id = randomUUID();
    await client.query("begin");
    await setContext(client);
    await client.query("insert into tasks (id, title) values ($1, 'Audited task')", [id]);
    await client.query("update tasks set title = 'Renamed', updated_at = now() where id = $1", [id]);
    await client.query("update tasks set status = 'ready' where id = $1", [id]);
    await client.query("update tasks set updated_at = now() + interval '1 second' where id = $1", [id]);
    await client.query("update tasks set deleted_at = now() where id = $1", [id]);
    await client.query("update tasks set deleted_at = null where id = $1", [id]);
    await client.query("delete from tasks where id = $1", [id]);
    await client.query("commit");

    const rows = await auditRows(client, id);
    expect(rows.map((r) => r.action)).toEqual([
      "create",
      "update",
      "status_change",
      "delete",
      "restore",
      "purge",
    ]);
    for (const row of rows) {
      expect(row.entity_type).toBe("task");
      expect(row.actor).toBe(CONTEXT.actor);
      expect(row.request_id).toBe(CONTEXT.request_id);
      expect(row.trace_id).toBe(CONTEXT.trace_id);
      expect(row.client_ip).toBe(CONTEXT.client_ip);
      expect(row.user_agent).toBe(CONTEXT.user_agent);
      // Written unsealed: audit_seal() hashes and chains rows.
      expect(row.hash).toBeNull();
      expect(row.prev_hash).toBeNull();
    }
    const [create, update, status] = rows;
    expect(create?.new_values).toMatchObject({ id, title: "Audited task", status: "pending" });
    expect(create?.old_values).toBeNull();
    expect(create?.new_values).not.toHaveProperty("search_vector");
    // Only the changed columns, old and new (updated_at is not a change of its own).
    expect(update?.changed_fields).toEqual(["title"]);
    expect(update?.old_values).toEqual({ title: "Audited task" });
    expect(update?.new_values).toEqual({ title: "Renamed" });
    expect(status?.changed_fields).toEqual(["status"]);
    expect(status?.old_values).toEqual({ status: "pending" });
    expect(status?.new_values).toEqual({ status: "ready" });
    expect(rows[5]?.new_values).toBeNull();
    expect(rows[5]?.old_values).toMatchObject({ id, title: "Renamed" });
  });

  it("writes no audit row for a rolled back transaction, and context does not outlive its transaction", async () => {
    const id = randomUUID();
    await client.query("begin");
    await setContext(client);
    await client.query("insert into tasks (id, title) values ($1, 'Rolled back')", [id]);
    await client.query("rollback");
    expect(await auditRows(client, id)).toEqual([]);

    // Same connection, no context: the row is audited without an actor (settings were transaction-local).
    await client.query("insert into tasks (id, title) values ($1, 'No context')", [id]);
    const [row] = await auditRows(client, id);
    expect(row?.action).toBe("create");
    expect(row?.actor).toBeNull();
    expect(row?.client_ip).toBeNull();
  });

  it("audits every audited table with a snake_case entity type", async () => {
    const r = await client.query<{ table: string; entity: string }>(`
      select c.relname as table, substring(pg_get_triggerdef(t.oid) from 'audit_row_change\\(''([a-z_]+)''') as entity
        from pg_trigger t join pg_class c on c.oid = t.tgrelid
       where t.tgname like '%\\_audit' and not t.tgisinternal order by 1`);
    expect(Object.fromEntries(r.rows.map((x) => [x.table, x.entity]))).toEqual({
      alert_rules: "alert_rule",
      milestones: "milestone",
      releases: "release",
      sprints: "sprint",
      task_attachments: "task_attachment",
      task_comments: "task_comment",
      task_relationships: "task_relationship",
      task_time_logs: "task_time_log",
      tasks: "task",
      template_categories: "template_category",
      template_dependencies: "template_dependency",
      template_permissions: "template_permission",
      template_reviews: "template_review",
      template_types: "template_type",
      template_versions: "template_version",
      templates: "template",
    });
    // Operational tables are not audited.
    expect(r.rows.map((x) => x.table)).not.toContain("audit_log");
    expect(r.rows.map((x) => x.table)).not.toContain("outbox_events");
    expect(r.rows.map((x) => x.table)).not.toContain("template_usage_logs");
  });

  it("masks sensitive keys and shapes in audited values", async () => {
    const id = randomUUID();
    await client.query(
      `insert into alert_rules (id, display_name, condition, webhook_url)
       values ($1, 'Masked', 'error_rate', 'https://hooks.example.com/x?token=s3cr3t-value&x=1')`,
      [id],
    );
    const [row] = await auditRows(client, id);
    expect(row?.new_values?.webhook_url).toBe("https://hooks.example.com/x?token=***&x=1");
    expect(JSON.stringify(row)).not.toContain("s3cr3t-value");

    const masked = await client.query<{ v: unknown }>(`select audit_mask(null, $1::jsonb) as v`, [
      JSON.stringify({
        password: "hunter2",
        nested: { apiKey: "AKIA123", list: [{ client_secret: "x1" }], note: "fine" },
        dsn: "postgres://app:pa55word@db:5432/x",
        authorization: "Bearer abc.def",
        pem: "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
        storage_key: "not-a-secret",
      }),
    ]);
    expect(masked.rows[0]?.v).toEqual({
      password: "***",
      nested: { apiKey: "***", list: [{ client_secret: "***" }], note: "fine" },
      dsn: "postgres://app:***@db:5432/x",
      authorization: "***",
      pem: "-----BEGIN PRIVATE KEY-----***-----END PRIVATE KEY-----",
      storage_key: "not-a-secret",
    });
    const bearer = await client.query<{ v: unknown }>(
      `select audit_mask('header', '"Bearer abc.def-123"') as v`,
    );
    expect(bearer.rows[0]?.v).toBe("Bearer ***");
  });

  it("masks every shape of the shared masking corpus, in text columns, jsonb and updates", async () => {
    for (const [what, text, secret] of FREE_TEXT) {
      const id = randomUUID();
      await client.query("insert into tasks (id, title, description) values ($1, $2, $3)", [
        id,
        "Corpus task",
        `see ${text} here`,
      ]);
      await client.query("update tasks set technical_notes = $2 where id = $1", [id, text]);
      const rows = await auditRows(client, id);
      expect(rows, what).toHaveLength(2);
      expect(JSON.stringify(rows), what).not.toContain(secret);
    }
    for (const [what, object, secret] of KEYED) {
      const id = randomUUID();
      await client.query("insert into tasks (id, title, metadata) values ($1, 'Keyed', $2)", [
        id,
        JSON.stringify(object),
      ]);
      await client.query("update tasks set custom_fields = $2 where id = $1", [id, JSON.stringify(object)]);
      const rows = await auditRows(client, id);
      expect(rows, what).toHaveLength(2);
      expect(JSON.stringify(rows), what).not.toContain(secret);
    }
  });

  it("keeps benign values exact: the cheap pre-check never changes what is recorded", async () => {
    const id = randomUUID();
    const metadata = {
      note: "Basic plan, see key points",
      nested: { gone: null, kept: 1 },
      list: [null, "x"],
    };
    const description =
      "Implement the login page; passing tests; https://example.com/docs?page=2 for details";
    await client.query(
      "insert into tasks (id, title, description, metadata, jira_key) values ($1, 'Benign', $2, $3, 'ABC-12')",
      [id, description, JSON.stringify(metadata)],
    );
    const [create] = await auditRows(client, id);
    // Nested nulls inside jsonb columns survive (only null columns are left out of a create).
    expect(create?.new_values).toMatchObject({ description, metadata, jira_key: "ABC-12" });
    expect(create?.new_values).not.toHaveProperty("due_date");
    expect(create?.changed_fields).toContain("metadata");
    expect(create?.changed_fields).not.toContain("due_date");
    // The same values through the full masking walk are unchanged: nothing here is a secret.
    const walked = await client.query<{ v: unknown }>("select audit_mask(null, $1::jsonb) as v", [
      JSON.stringify(create?.new_values),
    ]);
    expect(walked.rows[0]?.v).toEqual(create?.new_values);
  });
});

describe("hash chain", () => {
  it("seals rows in order and verifies; a tampered row is reported as the first broken link", async () => {
    const chainDb = await createTestDatabase();
    const c = await connect(chainDb.url);
    try {
      const ids = [randomUUID(), randomUUID(), randomUUID()];
      for (const id of ids) await c.query("insert into tasks (id, title) values ($1, 'Chained')", [id]);
      const unsealed = await c.query<{ n: number }>(
        "select count(*)::int as n from audit_log where prev_hash is null",
      );
      expect(unsealed.rows[0]?.n).toBe(3);
      // Unsealed rows carry no hash yet and verify.
      expect((await c.query("select * from audit_verify(5)")).rows).toEqual([]);
      // A row planted with a hash of its own (only the owner may write those columns) never passes as
      // sealed: verify reports it.
      await c.query(
        `insert into audit_log (id, entity_type, entity_id, action, prev_hash, hash)
         values (gen_random_uuid(), 'task', 'planted', 'create', $1, $1)`,
        ["a".repeat(64)],
      );
      expect((await c.query<{ problem: string }>("select * from audit_verify(5)")).rows[0]?.problem).toMatch(
        /does not match its hash/,
      );
      await c.query("delete from audit_log where entity_id = 'planted'");
      // A hash set on an unsealed row afterwards (around the trigger) is reported.
      await c.query("update audit_log set hash = $1 where seq = (select min(seq) from audit_log)", [
        "b".repeat(64),
      ]);
      expect((await c.query<{ problem: string }>("select * from audit_verify(5)")).rows[0]?.problem).toMatch(
        /unsealed row carries a hash/,
      );
      await c.query("update audit_log set hash = null where prev_hash is null");

      const sealed = await c.query<{ n: number }>("select audit_seal() as n");
      expect(sealed.rows[0]?.n).toBe(3);
      expect((await c.query<{ n: number }>("select audit_seal() as n")).rows[0]?.n).toBe(0);
      const chain = (
        await c.query<{ seq: string; prev_hash: string; hash: string }>(
          "select seq, prev_hash, hash from audit_log order by seq",
        )
      ).rows;
      expect(chain[0]?.prev_hash).toBe("0".repeat(64));
      expect(chain[1]?.prev_hash).toBe(chain[0]?.hash);
      expect(chain[2]?.prev_hash).toBe(chain[1]?.hash);
      expect((await c.query("select * from audit_verify(5)")).rows).toEqual([]);

      // Tamper (as superuser) with the middle row's recorded values.
      await c.query(
        `update audit_log set new_values = jsonb_set(new_values, '{title}', '"Forged"') where seq = $1`,
        [chain[1]?.seq],
      );
      const broken = await c.query<{ seq: string; problem: string }>("select * from audit_verify(5)");
      expect(broken.rows.map((r) => r.seq)).toEqual([chain[1]?.seq]);
      expect(broken.rows[0]?.problem).toMatch(/does not match its hash/);

      // Hashes keep their shape even for a superuser.
      const shape = await pgError(
        c.query("update audit_log set prev_hash = 'abc' where seq = $1", [chain[0]?.seq]),
      );
      expect(shape.code).toBe("23514");
      expect(
        (await pgError(c.query("update audit_log set hash = 'xyz' where seq = $1", [chain[0]?.seq]))).code,
      ).toBe("23514");

      // Deleting a row breaks its successor's link.
      await c.query("delete from audit_log where seq = $1", [chain[1]?.seq]);
      const gap = await c.query<{ seq: string; problem: string }>("select * from audit_verify(5)");
      expect(gap.rows[0]?.seq).toBe(chain[2]?.seq);
      expect(gap.rows[0]?.problem).toMatch(/previous link missing/);
    } finally {
      await c.end();
      await chainDb.drop();
    }
  });
});

describe("partitions and retention", () => {
  it("partitions audit_log by month with upcoming months created ahead", async () => {
    // (The template database may predate this month: bring partitions up to date first.)
    await client.query("select audit_ensure_partitions(3)");
    const r = await client.query<{ name: string }>(
      `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'audit_log'::regclass order by 1`,
    );
    const names = r.rows.map((x) => x.name);
    const now = new Date();
    const month = (offset: number) => {
      const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
      return `audit_log_p${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
    };
    expect(names).toEqual(
      expect.arrayContaining([month(0), month(1), month(2), month(3), "audit_log_default"]),
    );
    // Creating them again is a no-op.
    expect((await client.query("select * from audit_ensure_partitions(3)")).rows).toEqual([]);
  });

  it("drops whole expired partitions once, even when run twice at the same time, and the chain stays valid", async () => {
    const retentionDb = await createTestDatabase();
    const a = await connect(retentionDb.url);
    const b = await connect(retentionDb.url);
    try {
      // Old rows (200 days ago) land in the default partition; ensure_partitions moves them into their month.
      await a.query(
        `insert into audit_log (id, entity_type, entity_id, action, occurred_at)
         select gen_random_uuid(), 'task', 'old-' || g, 'update', now() - interval '200 days' from generate_series(1, 3) g`,
      );
      const created = await a.query<{ p: string }>("select audit_ensure_partitions(3) as p");
      const old = new Date(Date.now() - 200 * 86_400_000);
      const oldPartition = `audit_log_p${old.getUTCFullYear()}${String(old.getUTCMonth() + 1).padStart(2, "0")}`;
      expect(created.rows.map((r) => r.p)).toContain(oldPartition);
      expect((await a.query(`select count(*)::int as n from ${oldPartition}`)).rows[0]?.n).toBe(3);
      expect((await a.query("select count(*)::int as n from audit_log_default")).rows[0]?.n).toBe(0);
      // Seal old rows, then add current ones chained after them.
      await a.query("select audit_seal()");
      await a.query("insert into tasks (id, title) values ($1, 'Current')", [randomUUID()]);
      await a.query("select audit_seal()");

      const [first, second] = await Promise.all([
        a.query<{ partition_name: string; rows_removed: string }>("select * from audit_drop_expired(90)"),
        b.query<{ partition_name: string; rows_removed: string }>("select * from audit_drop_expired(90)"),
      ]);
      const removed = [...first.rows, ...second.rows];
      expect(removed).toHaveLength(1);
      expect(removed[0]).toMatchObject({ partition_name: oldPartition, rows_removed: "3" });
      expect((await a.query("select to_regclass($1) as r", [oldPartition])).rows[0]?.r).toBeNull();
      expect((await a.query("select count(*)::int as n from audit_log")).rows[0]?.n).toBe(1);
      // The surviving row's predecessor was removed by retention: an anchor, not a broken link.
      expect((await a.query("select * from audit_verify(5)")).rows).toEqual([]);
      expect((await a.query("select * from audit_drop_expired(90)")).rows).toEqual([]);
    } finally {
      await a.end();
      await b.end();
      await retentionDb.drop();
    }
  });

  it("keeps the chain verifiable when every row expired (the chain's end is dropped), and partitions may be ensured concurrently", async () => {
    const quietDb = await createTestDatabase();
    const a = await connect(quietDb.url);
    const b = await connect(quietDb.url);
    try {
      await a.query(
        `insert into audit_log (id, entity_type, entity_id, action, occurred_at)
         select gen_random_uuid(), 'task', 'old-' || g, 'update', now() - interval '200 days' from generate_series(1, 2) g`,
      );
      // Two at once: each takes the retention and seal locks, so neither deadlocks.
      await Promise.all([
        a.query("select audit_ensure_partitions(3)"),
        b.query("select audit_ensure_partitions(3)"),
      ]);
      await a.query("select audit_seal()");
      const removed = await a.query<{ rows_removed: string }>("select * from audit_drop_expired(90)");
      expect(removed.rows.map((r) => r.rows_removed)).toEqual(["2"]);
      expect((await a.query("select count(*)::int as n from audit_log")).rows[0]?.n).toBe(0);
      expect((await a.query("select * from audit_verify(5)")).rows).toEqual([]);
      // New rows chain on after the expired end and verify too.
      await a.query("insert into tasks (id, title) values ($1, 'After a quiet period')", [randomUUID()]);
      await a.query("select audit_seal()");
      expect((await a.query("select * from audit_verify(5)")).rows).toEqual([]);
    } finally {
      await a.end();
      await b.end();
      await quietDb.drop();
    }
  });
});

describe("least privilege", () => {
  async function asRole<T>(role: string, fn: () => Promise<T>): Promise<T> {
    await client.query("begin");
    try {
      await client.query(`set local role ${role}`);
      return await fn();
    } finally {
      await client.query("rollback");
    }
  }

  it("creates the roles", async () => {
    const r = await client.query<{ rolname: string }>(
      "select rolname from pg_roles where rolname like 'taskmaster\\_%' order by 1",
    );
    expect(r.rows.map((x) => x.rolname)).toEqual(
      expect.arrayContaining([
        "taskmaster_app",
        "taskmaster_owner",
        "taskmaster_readonly",
        "taskmaster_retention",
      ]),
    );
  });

  it("the application role writes app tables (audited) but cannot update or delete audit rows nor alter schema", async () => {
    const id = randomUUID();
    await asRole("taskmaster_app", async () => {
      await client.query("insert into tasks (id, title) values ($1, 'As app')", [id]);
      const rows = await client.query("select action from audit_log where entity_id = $1", [id]);
      expect(rows.rows).toEqual([{ action: "create" }]);
      await client.query("savepoint s");
      // Sealing goes through the SECURITY DEFINER function.
      await client.query("select audit_seal()");
      await client.query("release savepoint s");
    });
    const denied = async (sql: string) => {
      const error = await asRole("taskmaster_app", () => client.query(sql));
      return error;
    };
    for (const sql of [
      "update audit_log set actor = 'mallory'",
      "delete from audit_log",
      "truncate audit_log",
      "update audit_log_default set actor = 'mallory'",
      "alter table tasks add column evil int",
      "alter table audit_log disable trigger all",
      "alter table tasks disable trigger tasks_audit",
      // Only the columns the audit trigger writes: no planted hash, no backdating, no chosen sequence.
      "insert into audit_log (id, entity_type, entity_id, action, hash) values (gen_random_uuid(), 'task', 'x', 'create', repeat('a', 64))",
      "insert into audit_log (id, entity_type, entity_id, action, occurred_at) values (gen_random_uuid(), 'task', 'x', 'create', now() - interval '1 year')",
      "insert into audit_log (id, entity_type, entity_id, action, seq) values (gen_random_uuid(), 'task', 'x', 'create', 1)",
      "drop table audit_log",
      "create table evil (id int)",
      "select * from audit_drop_expired(1)",
    ]) {
      const error = await pgError(denied(sql));
      expect([sql, error.code]).toEqual([sql, "42501"]);
    }
    const now = new Date();
    const partition = `audit_log_p${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, "0")}`;
    expect((await pgError(denied(`delete from ${partition}`))).code).toBe("42501");
  });

  it("the read-only role only reads; the retention role runs retention but cannot delete rows directly", async () => {
    await asRole("taskmaster_readonly", async () => {
      await client.query("select count(*) from tasks");
      await client.query("select count(*) from audit_log");
    });
    expect((await pgError(asRole("taskmaster_readonly", () => client.query("delete from tasks")))).code).toBe(
      "42501",
    );
    await asRole("taskmaster_retention", () => client.query("select * from audit_drop_expired(90)"));
    expect(
      (await pgError(asRole("taskmaster_retention", () => client.query("delete from audit_log")))).code,
    ).toBe("42501");
  });
});
