/**
 * GetPoolStats and the POOL_SATURATION / ERROR_RATE alerts see every process (issue 12): the monitoring
 * service reads the other services' Prometheus /metrics. A stand-in task service runs the real per-process
 * endpoints (startProcessEndpoints: its own ORM, pool tracker and metrics registry, /metrics on a real port
 * 0 socket); the template service's address has nothing listening, so it is unreachable. Real PostgreSQL.
 */
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { EntityManager, MikroORM } from "@mikro-orm/postgresql";
import { loadConfig } from "@taskmaster/config/config";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { AlertCondition } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/alert_pb";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import type { HttpEndpoints } from "@taskmaster/rpc-kit/http-endpoints";
import { startProcessEndpoints } from "@taskmaster/service-runtime/process-endpoints";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createProcessMetrics, type ProcessMetrics } from "@taskmaster/telemetry/metrics";
import { freePort } from "@taskmaster/testing/embedded";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AlertRuntime } from "./alert-runtime.js";
import { createServer } from "./server.js";

const logger = createLogger({ service: "pool-stats-test", level: "silent" });
let db: TestDatabase;
let orm: MikroORM;
let taskOrm: MikroORM;
let taskMetrics: ProcessMetrics;
let taskEndpoints: HttpEndpoints;
let server: GrpcServer;
let runtime: AlertRuntime;
let client: Client<typeof MonitoringService>;
let now = Date.parse("2026-12-06T12:00:00Z");

beforeAll(async () => {
  db = await createTestDatabase();
  orm = (await initOrm({ url: db.monitorUrl, pool: { min: 0, max: 4 } })) as MikroORM;
  taskOrm = (await initOrm({ url: db.appUrl, pool: { min: 0, max: 3 } })) as MikroORM;
  const taskConfig = loadConfig(
    undefined,
    { TASKMASTER_PROFILE: "test", DATABASE_URL: db.appUrl, HEALTH_PORT: "0", METRICS_PORT: "0" },
    { service: "task-service", defaultGrpcPort: 0 },
  );
  taskMetrics = createProcessMetrics({ defaultMetrics: false });
  taskEndpoints = await startProcessEndpoints({
    orm: taskOrm,
    config: taskConfig,
    health: undefined,
    logger,
    metrics: taskMetrics,
  });
  const closed = await freePort();
  const config = loadConfig(
    undefined,
    { TASKMASTER_PROFILE: "test", DATABASE_URL: db.monitorUrl, HEALTH_PORT: "0", METRICS_PORT: "0" },
    { service: "monitoring-service", defaultGrpcPort: 0 },
  );
  server = createServer({
    orm,
    logger,
    config,
    monitoring: {
      serviceAddresses: {},
      serviceMetricsUrls: {
        "task-service": `http://127.0.0.1:${taskEndpoints.metricsPort}/metrics`,
        "template-service": `http://127.0.0.1:${closed}/metrics`,
      },
      alerting: {
        manual: true,
        clock: () => new Date(now),
        metrics: createProcessMetrics({ defaultMetrics: false }),
        onCreated: (r) => {
          runtime = r;
        },
      },
    },
  });
  const { port } = await server.listen("127.0.0.1", 0);
  client = createClient(MonitoringService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
});

afterAll(async () => {
  await server?.shutdown(1_000);
  await taskEndpoints?.close();
  await taskOrm?.close(true);
  await orm?.close(true);
  await db?.drop();
});

/** Holds one connection of the task service's pool in an open transaction until released. */
async function holdTaskConnection(): Promise<() => Promise<void>> {
  const em = taskOrm.em.fork() as EntityManager;
  await em.begin();
  await em.getConnection().execute("select 1", [], "all", em.getTransactionContext());
  return () => em.rollback();
}

describe("GetPoolStats", () => {
  it("reports every reachable process's pool and names the ones that do not answer", async () => {
    const release = await holdTaskConnection();
    try {
      const res = await client.getPoolStats({});
      const byService = new Map(res.pools.map((p) => [p.service, p]));
      expect([...byService.keys()].sort()).toEqual(["monitoring-service", "task-service"]);
      const task = byService.get("task-service");
      expect(task?.maxSize).toBe(3);
      expect(task?.inUse).toBeGreaterThanOrEqual(1);
      expect(task?.acquireCount).toBeGreaterThan(0n);
      expect(task?.instance).toBe(`127.0.0.1:${taskEndpoints.metricsPort}`);
      expect(res.unreachableServices).toEqual(["template-service"]);
      const only = await client.getPoolStats({ services: ["task-service"] });
      expect(only.pools.map((p) => p.service)).toEqual(["task-service"]);
      expect(only.unreachableServices).toEqual([]);
    } finally {
      await release();
    }
  });
});

describe("alerts over every process", () => {
  async function firing(ruleName: string) {
    return (await client.listAlerts({ filter: `alert_rule = "${ruleName}"` })).alerts;
  }

  it("POOL_SATURATION fires on another process's pool", async () => {
    const rule = (
      await client.createAlertRule({
        alertRule: {
          displayName: "task pool busy",
          condition: AlertCondition.POOL_SATURATION,
          threshold: 0.1,
          service: "task-service",
          enabled: true,
        },
      })
    ).alertRule;
    const release = await holdTaskConnection();
    try {
      now += 60_000;
      await runtime.evaluator.evaluateOnce();
      const alerts = await firing(rule?.name ?? "");
      expect(alerts).toHaveLength(1);
      expect(alerts[0]?.summary).toContain("task-service");
    } finally {
      await release();
    }
  });

  it("ERROR_RATE counts another process's failed RPCs", async () => {
    const rule = (
      await client.createAlertRule({
        alertRule: {
          displayName: "task errors",
          condition: AlertCondition.ERROR_RATE,
          threshold: 0.5,
          service: "task-service",
          enabled: true,
        },
      })
    ).alertRule;
    now += 60_000;
    await runtime.evaluator.evaluateOnce(); // baseline
    const labels = { service: "taskmaster.task.v1.TaskService", method: "GetTask" };
    taskMetrics.rpcRequests.inc({ ...labels, code: "INTERNAL" }, 3);
    taskMetrics.rpcRequests.inc({ ...labels, code: "OK" }, 1);
    now += 60_000;
    await runtime.evaluator.evaluateOnce();
    const alerts = await firing(rule?.name ?? "");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.summary).toContain("3 of 4");
  });
});
