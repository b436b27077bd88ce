/**
 * The database settings are real, against a real PostgreSQL: statement_timeout and
 * idle_in_transaction_session_timeout are connection start-up options (no SET per transaction), the pool's
 * acquire timeout bounds a wait for a connection (all held: the next call fails, classified transient,
 * instead of hanging), whole transactions are retried after a provoked serialization failure, a pooled
 * connection killed by the server is discarded (classified transient, later calls succeed), and real errors
 * of every kind are classified by the one classifier (`@taskmaster/persistence/db-errors`).
 */
import { createServer as createNetServer } from "node:net";
import type { MikroORM } from "@mikro-orm/postgresql";
import { withAuditContext } from "@taskmaster/persistence/audit-context.subscriber";
import { classifyDatabaseError } from "@taskmaster/persistence/db-errors";
import { initOrm } from "@taskmaster/persistence/orm-config";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

let db: TestDatabase;
let admin: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query(
    "create table resilience_probe (id int primary key, n int not null, ref int references resilience_probe(id))",
  );
  await admin.query("insert into resilience_probe (id, n) values (1, 0), (2, 0)");
  await admin.query("grant select, insert, update, delete on resilience_probe to taskmaster_app");
});

afterAll(async () => {
  await admin?.end();
  await db?.drop();
});

async function open(
  extra: Parameters<typeof initOrm>[0] extends infer O ? Partial<O> : never,
): Promise<MikroORM> {
  return (await initOrm({ url: db.appUrl, pool: { min: 0, max: 2 }, ...extra })) as MikroORM;
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a failure");
}

const exec = (orm: MikroORM, sql: string) => orm.em.fork().getConnection().execute(sql);

describe("connection start-up options", () => {
  it("statement_timeout and idle_in_transaction_session_timeout come with the connection, no SET", async () => {
    const orm = await open({ statementTimeoutMs: 300, idleInTransactionTimeoutMs: 400 });
    try {
      const [row] = await exec(
        orm,
        "select current_setting('statement_timeout') as st, current_setting('idle_in_transaction_session_timeout') as it",
      );
      expect(row).toEqual({ st: "300ms", it: "400ms" });
      // Set at start-up (pg_settings.source 'client'), not by a SET in a transaction ('session').
      const [src] = await exec(orm, "select source from pg_settings where name = 'statement_timeout'");
      expect(src?.source).toBe("client");
      const err = await failure(exec(orm, "select pg_sleep(5)"));
      expect((err as { code?: string }).code).toBe("57014");
      expect(classifyDatabaseError(err)).toBe("timeout");
      // The connection is still good after the cancelled statement.
      expect(await exec(orm, "select 1 as one")).toEqual([{ one: 1 }]);
    } finally {
      await orm.close(true);
    }
  });
});

describe("pool acquire timeout", () => {
  it("all connections held: the next call fails (transient) after the timeout instead of hanging", async () => {
    const orm = await open({ pool: { min: 0, max: 1, acquireTimeoutMillis: 1_000 } });
    // The one connection opened first (on a busy machine opening it may itself exceed the timeout).
    for (let i = 0; ; i++) {
      try {
        await exec(orm, "select 1");
        break;
      } catch (e) {
        if (i >= 20) throw e;
      }
    }
    let release: (() => void) | undefined;
    const held = new Promise<void>((r) => {
      release = r;
    });
    try {
      let started: (() => void) | undefined;
      const holding = new Promise<void>((r) => {
        started = r;
      });
      const holder = orm.em.fork().transactional(async (em) => {
        await em.getConnection().execute("select 1", [], "all", em.getTransactionContext());
        started?.();
        await held;
      });
      await Promise.race([holding, holder]);
      const err = await failure(exec(orm, "select 1"));
      expect(String((err as Error).message)).toMatch(/timeout exceeded when trying to connect/);
      expect(classifyDatabaseError(err)).toBe("transient");
      release?.();
      await holder;
      expect(await exec(orm, "select 1 as one")).toEqual([{ one: 1 }]);
    } finally {
      release?.();
      await orm.close(true);
    }
  });
});

describe("transaction retry", () => {
  it("a serialization failure reruns the whole transaction, which then commits", async () => {
    const retried: unknown[] = [];
    const policy = { attempts: 3, initialDelayMs: 5, factor: 2, maxDelayMs: 20 };
    const orm = await open({
      pool: { min: 0, max: 3 },
      retry: policy,
      retryEvents: { onRetry: (e) => retried.push(e) },
    });
    const other = new pg.Client({ connectionString: db.appUrl });
    await other.connect();
    try {
      let attempts = 0;
      await orm.em.fork().transactional(
        async (em) => {
          attempts++;
          const ctx = em.getTransactionContext();
          const conn = em.getConnection();
          await conn.execute("select n from resilience_probe where id = 1", [], "all", ctx);
          if (attempts === 1) {
            // A concurrent committed write to the row this serializable transaction read and will write.
            await other.query("update resilience_probe set n = n + 100 where id = 1");
          }
          await conn.execute("update resilience_probe set n = n + 1 where id = 1", [], "all", ctx);
        },
        { isolationLevel: "serializable" as never },
      );
      expect(attempts).toBe(2);
      expect(retried.map((e) => (e as { code?: string }).code)).toEqual(["40001"]);
      const { rows } = await admin.query("select n from resilience_probe where id = 1");
      expect(rows[0]?.n).toBe(101);
    } finally {
      await other.end();
      await orm.close(true);
    }
  });

  it("a failure that is not a conflict is never replayed", async () => {
    const retried: unknown[] = [];
    const policy = { attempts: 3, initialDelayMs: 5, factor: 2, maxDelayMs: 20 };
    const orm = await open({ retry: policy, retryEvents: { onRetry: (e) => retried.push(e) } });
    try {
      let attempts = 0;
      const err = await failure(
        orm.em.fork().transactional(async (em) => {
          attempts++;
          await em
            .getConnection()
            .execute(
              "insert into resilience_probe (id, n) values (1, 0)",
              [],
              "all",
              em.getTransactionContext(),
            );
        }),
      );
      expect(classifyDatabaseError(err)).toBe("already_exists");
      expect(attempts).toBe(1);
      expect(retried).toEqual([]);
    } finally {
      await orm.close(true);
    }
  });
});

/** The test server's URL on a local port nothing listens on (a database that is down). */
async function downUrl(url: string): Promise<string> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const down = new URL(url);
  down.hostname = "127.0.0.1";
  down.port = String(typeof address === "object" && address ? address.port : 0);
  return down.toString();
}

describe("transaction retry bounded by the call's deadline", () => {
  it("starts no retry that would end past the deadline of the RPC (database down)", async () => {
    const retried: unknown[] = [];
    // Retries 0.5-1 s, 1-2 s, 2-4 s ... apart: within the 30 s budget, but not within a 300 ms deadline.
    const policy = { attempts: 5, initialDelayMs: 1_000, factor: 2, maxDelayMs: 4_000 };
    const orm = (await initOrm({
      url: await downUrl(db.appUrl),
      pool: { min: 0, max: 2, acquireTimeoutMillis: 2_000 },
      retry: policy,
      retryEvents: { onRetry: (e) => retried.push(e) },
    })) as MikroORM;
    try {
      let attempts = 0;
      const err = await failure(
        withAuditContext({ deadline: Date.now() + 300 }, () =>
          orm.em.fork().transactional(async (em) => {
            attempts++;
            await em.getConnection().execute("select 1", [], "all", em.getTransactionContext());
          }),
        ),
      );
      expect(classifyDatabaseError(err)).toBe("transient");
      expect(retried).toEqual([]);
      expect(attempts).toBeLessThanOrEqual(1);
    } finally {
      await orm.close(true);
    }
  });
});

describe("a pooled connection killed by the server", () => {
  it("is discarded: the failure is transient, never a bug, and later calls succeed", async () => {
    const orm = await open({ pool: { min: 0, max: 2 } });
    try {
      await Promise.all([exec(orm, "select 1"), exec(orm, "select 1")]);
      const { rowCount } = await admin.query(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and usename = 'taskmaster_test_app'",
      );
      expect(rowCount).toBeGreaterThan(0);
      const outcomes: (string | undefined)[] = [];
      for (let i = 0; i < 4; i++) {
        try {
          await exec(orm, "select 1");
          outcomes.push("ok");
        } catch (e) {
          outcomes.push(classifyDatabaseError(e));
        }
      }
      expect(outcomes.every((o) => o === "ok" || o === "transient")).toBe(true);
      expect(outcomes.slice(-2)).toEqual(["ok", "ok"]);
    } finally {
      await orm.close(true);
    }
  });
});

describe("real errors from PostgreSQL", () => {
  const cases: [string, string, string][] = [
    ["unique", "insert into resilience_probe (id, n) values (1, 0)", "already_exists"],
    ["foreign key", "insert into resilience_probe (id, n, ref) values (50, 0, 999)", "reference"],
    ["not null", "insert into resilience_probe (id, n) values (51, null)", "invalid_input"],
    ["NUL in json (22P05)", `select '"\\u0000"'::jsonb ->> 0`, "invalid_input"],
    ["bad UTF-8 (22021)", `select convert_from('\\xff'::bytea, 'UTF8')`, "invalid_input"],
    ["bad integer (22P02)", "select 'x'::int", "invalid_input"],
    ["overflow (22003)", "select 2147483647::int + 1", "invalid_input"],
    ["division by zero (22012)", "select 1 / 0", "invalid_input"],
    ["undefined table (42P01): a bug", "select * from no_such_table", "bug"],
    ["syntax (42601): a bug", "selec 1", "bug"],
    ["privilege (42501): a bug", "select * from pg_authid", "bug"],
  ];
  it.each(cases)("%s", async (_label, sql, kind) => {
    const orm = await open({});
    try {
      const err = await failure(exec(orm, sql));
      expect(classifyDatabaseError(err)).toBe(kind);
    } finally {
      await orm.close(true);
    }
  });
});
