/**
 * The alert and audit RPCs' database work is bounded by `statement_timeout` + cancellation, not by a timer
 * race: a read that cannot finish in time (here: waiting on a lock another session holds) is answered
 * UNAVAILABLE and PostgreSQL cancels it, so no pooled connection is left running the query. Real grpc-js
 * server on a real socket, real migrated PostgreSQL.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { loadConfig } from "@taskmaster/config/config";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "./server.js";

const logger = createLogger({ service: "bounded-orm-test", level: "silent" });
let db: TestDatabase;
let orm: MikroORM;
let server: GrpcServer;
let port: number;

beforeAll(async () => {
  db = await createTestDatabase();
  orm = (await initOrm({ url: db.monitorUrl, pool: { min: 0, max: 4 } })) as MikroORM;
  const config = loadConfig(
    undefined,
    { TASKMASTER_PROFILE: "test", DATABASE_URL: "postgres://app@db.example:5432/tm" },
    { service: "monitoring-service", defaultGrpcPort: 0 },
  );
  server = createServer({
    orm,
    logger,
    config,
    monitoring: {
      serviceAddresses: {},
      serviceMetricsUrls: {},
      healthIntervalMs: 600_000,
      checkTimeoutMs: 1_000,
      dbTimeoutMs: 300,
      alerting: { manual: true },
    },
  });
  ({ port } = await server.listen("127.0.0.1", 0));
});

afterAll(async () => {
  await server?.shutdown(1_000);
  await orm?.close(true);
  await db?.drop();
});

/** Backends other than `except` still running a statement on `table`. */
async function runningOn(check: pg.Client, table: string, except: number): Promise<number> {
  const { rows } = await check.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity
      where datname = current_database() and pid <> $1 and pid <> pg_backend_pid()
        and state = 'active' and query ilike '%' || $2 || '%'`,
    [except, table],
  );
  return rows[0]?.n ?? 0;
}

async function until(probe: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return probe();
}

describe("bounded ORM work (alert and audit RPCs)", () => {
  it("answers UNAVAILABLE for a read that cannot finish in time and leaves no query running on the pool", async () => {
    const client = createClient(
      MonitoringService,
      createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }),
    );
    const locker = new pg.Client({ connectionString: db.url });
    const check = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await check.connect();
    try {
      const lockerPid =
        (await locker.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]?.pid ?? 0;
      await locker.query("begin; lock table alert_rules in access exclusive mode");
      const error = await client.listAlertRules({ pageSize: 10 }).then(
        () => undefined,
        (err: unknown) => ConnectError.from(err),
      );
      expect(error && Code[error.code]).toBe(Code[Code.Unavailable]);
      // The lock is still held: a query left running would wait on it for ever.
      expect(await until(async () => (await runningOn(check, "alert_rules", lockerPid)) === 0, 5_000)).toBe(
        true,
      );
      await locker.query("rollback");
      // The pool's connections are usable again.
      expect((await client.listAlertRules({ pageSize: 10 })).alertRules.length).toBeGreaterThan(0);
    } finally {
      await locker.end();
      await check.end();
    }
  });
});
