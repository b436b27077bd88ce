/**
 * Database probes and bounded database reads never leave a query running on a pooled connection (the hidden
 * hang of alert.handlers.spec "raises DATABASE_DOWN ..."). Real PostgreSQL behind a real TCP proxy whose
 * open connections stop answering (stall) while new ones work. Before: a probe or read that lost its race
 * against a timer kept its connection stuck in its query for ever; with both pool connections stuck, every
 * later probe or read waited behind them, and the database never became SERVING again (nor answered reads)
 * although it answered new connections.
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { HealthStatus } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/health_pb";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASE_COMPONENT, HealthMonitor } from "./health-monitor.js";
import { Code, rpcError, TcpProxy, waitFor } from "./monitoring.test-util.js";
import { createServer } from "./server.js";

const logger = createLogger({ service: "health-monitor-test", level: "silent" });
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

/** A proxy in front of the test database and an ORM (pool of 2) through it. */
async function proxiedOrm(url: string): Promise<{ proxy: TcpProxy; orm: MikroORM }> {
  const target = new URL(url);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  await proxy.up();
  const viaProxy = new URL(url);
  viaProxy.hostname = "127.0.0.1";
  viaProxy.port = `${proxy.port}`;
  const orm = (await initOrm({ url: viaProxy.toString(), pool: { min: 0, max: 2 } })) as MikroORM;
  return { proxy, orm };
}

/** Both pool connections open and idle. */
async function fillPool(orm: MikroORM): Promise<void> {
  await Promise.all([
    orm.em.fork().getConnection().execute("select pg_sleep(0.05)"),
    orm.em.fork().getConnection().execute("select pg_sleep(0.05)"),
  ]);
}

describe("database probes and bounded reads", () => {
  it("the health monitor recovers once new connections answer, even if the pooled ones stopped answering", async () => {
    const { proxy, orm } = await proxiedOrm(db.monitorUrl);
    const monitor = new HealthMonitor({ orm, services: {}, intervalMs: 50, checkTimeoutMs: 500 });
    const status = async () =>
      (await monitor.check()).components.find((c) => c.component === DATABASE_COMPONENT)?.status;
    try {
      await waitFor(async () => (await status()) === HealthStatus.SERVING);
      await fillPool(orm);
      proxy.stall();
      // The stalled connections fail the probe (DEGRADED, or NOT_SERVING after three failures) ...
      await waitFor(async () => (await status()) !== HealthStatus.SERVING);
      // ... new connections answer: the monitor must see the database again by itself.
      await waitFor(async () => (await status()) === HealthStatus.SERVING);
      expect(monitor.snapshot().status).toBe(HealthStatus.SERVING);
    } finally {
      monitor.stop();
      await orm.close(true);
      await proxy.down();
    }
  });

  it("database-backed RPCs answer UNAVAILABLE on stalled connections, then answer again on new ones", async () => {
    const { proxy, orm } = await proxiedOrm(db.url);
    const server = createServer({
      orm,
      logger,
      // The health monitor stays out of the way (first round only): the RPCs' own reads are under test.
      monitoring: { serviceAddresses: {}, healthIntervalMs: 600_000, checkTimeoutMs: 500, dbTimeoutMs: 500 },
    });
    try {
      const { port } = await server.listen("127.0.0.1", 0);
      const c = createClient(MonitoringService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
      expect((await c.getSystemStatus({})).status?.databaseVersion).not.toBe("");
      await fillPool(orm);
      proxy.stall();
      // One read per stalled pool connection: each answers UNAVAILABLE within its bound ...
      const errors = await Promise.all([rpcError(c.getSystemStatus({})), rpcError(c.getSystemStatus({}))]);
      expect(errors.map((e) => e.code)).toEqual([Code.Unavailable, Code.Unavailable]);
      // ... and leaves nothing holding the pool: later reads get connections that answer.
      const status = await waitFor(async () => (await c.getSystemStatus({})).status);
      expect(status.databaseVersion).not.toBe("");
    } finally {
      await server.shutdown(500);
      await orm.close(true);
      await proxy.down();
    }
  });
});
