/**
 * The database health probe never leaves abandoned work holding the pool (the hidden hang of
 * alert.handlers.spec "raises DATABASE_DOWN ..."): a probe that times out destroys its connection. Real
 * PostgreSQL behind a real TCP proxy whose open connections stop answering (stall) while new ones work.
 * Before: both pooled connections stayed stuck in `select 1` forever, every later probe waited for them, and
 * the database never became SERVING again although it answered new connections.
 */
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { HealthStatus } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/health_pb";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASE_COMPONENT, HealthMonitor } from "./health-monitor.js";
import { TcpProxy, waitFor } from "./monitoring.test-util.js";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe("HealthMonitor database probe", () => {
  it("recovers once new connections answer, even if the pooled ones stopped answering", async () => {
    const url = new URL(db.monitorUrl);
    const proxy = new TcpProxy(url.hostname, Number(url.port || 5432));
    await proxy.up();
    const viaProxy = new URL(db.monitorUrl);
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = `${proxy.port}`;
    const orm = (await initOrm({
      url: viaProxy.toString(),
      pool: { min: 0, max: 2, acquireTimeoutMillis: 5_000 },
    })) as MikroORM;
    const monitor = new HealthMonitor({ orm, services: {}, intervalMs: 50, checkTimeoutMs: 500 });
    const status = async () =>
      (await monitor.check()).components.find((c) => c.component === DATABASE_COMPONENT)?.status;
    try {
      await waitFor(async () => (await status()) === HealthStatus.SERVING);
      // Both pool connections open and idle.
      await Promise.all([
        orm.em.fork().getConnection().execute("select pg_sleep(0.05)"),
        orm.em.fork().getConnection().execute("select pg_sleep(0.05)"),
      ]);
      proxy.stall();
      // The stalled connections fail the probe (DEGRADED, or NOT_SERVING after three failures) ...
      await waitFor(async () => (await status()) !== HealthStatus.SERVING);
      // New connections answer: the monitor must see the database again by itself.
      await waitFor(async () => (await status()) === HealthStatus.SERVING);
      expect(monitor.snapshot().status).toBe(HealthStatus.SERVING);
    } finally {
      monitor.stop();
      await orm.close(true);
      await proxy.down();
    }
  });
});
