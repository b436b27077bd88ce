/**
 * MonitoringService health/diagnostics RPCs and the per-process HTTP endpoints end to end: real grpc-js
 * servers on real sockets (the monitoring service plus a stand-in "task service" whose grpc.health.v1 we
 * flip), a real migrated PostgreSQL, a TCP proxy taken down to simulate a database outage. No mocks.
 */
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { loadConfig } from "@taskmaster/config/config";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { Health } from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { ComponentKind, HealthStatus } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/health_pb";
import {
  MonitoringService,
  SlowQueryOrder,
} from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { createGrpcServer, type GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { HealthRegistry, ServingStatus } from "@taskmaster/rpc-kit/health";
import type { HttpEndpoints } from "@taskmaster/rpc-kit/http-endpoints";
import { startProcessEndpoints } from "@taskmaster/service-runtime/process-endpoints";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createProcessMetrics } from "@taskmaster/telemetry/metrics";
import { freePort } from "@taskmaster/testing/embedded";
import { parseExposition } from "@taskmaster/testing/prometheus-exposition";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Code,
  expectClean,
  reasonOf,
  rpcError,
  TcpProxy,
  violationFields,
  waitFor,
} from "./monitoring.test-util.js";
import { createServer } from "./server.js";

const TASK = "taskmaster.task.v1.TaskService";
const TEMPLATE = "taskmaster.template.v1.TemplateService";
const logger = createLogger({ service: "monitoring-test", level: "silent" });

let db: TestDatabase;
let orm: MikroORM;
let server: GrpcServer;
let client: Client<typeof MonitoringService>;
let taskHealth: HealthRegistry;
let taskServer: GrpcServer;
let http: HttpEndpoints;
let pgssAvailable = false;
/** The process metrics of the server under test and its /metrics endpoint (one registry, as deployed). */
const metrics = createProcessMetrics();
const secretPassword = "s3cr3t-pw-Ünïcødé";

function client$(port: number): Client<typeof MonitoringService> {
  return createClient(MonitoringService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
}

beforeAll(async () => {
  db = await createTestDatabase();
  orm = (await initOrm({ url: db.monitorUrl, pool: { min: 0, max: 4 } })) as MikroORM;
  // A stand-in task service: only grpc.health.v1, status flipped by the tests.
  taskHealth = new HealthRegistry({ cacheMs: 0 });
  taskHealth.setStatus(TASK, ServingStatus.SERVING);
  taskServer = createGrpcServer({ logger, services: [], health: taskHealth, reflection: false });
  const { port: taskPort } = await taskServer.listen("127.0.0.1", 0);
  const closedPort = await freePort();
  const config = loadConfig(
    undefined,
    {
      TASKMASTER_PROFILE: "test",
      DATABASE_URL: `postgres://app:${encodeURIComponent(secretPassword)}@db.example:5432/tm`,
      HEALTH_PORT: "0",
      METRICS_PORT: "0",
    },
    { service: "monitoring-service", defaultGrpcPort: 0 },
  );
  server = createServer({
    orm,
    logger,
    metrics,
    config,
    monitoring: {
      serviceAddresses: { [TASK]: `127.0.0.1:${taskPort}`, [TEMPLATE]: `127.0.0.1:${closedPort}` },
      // Nothing answers there: both other services are unreachable (pool-stats.spec.ts has live ones).
      serviceMetricsUrls: {
        "task-service": `http://127.0.0.1:${closedPort}/metrics`,
        "template-service": `http://127.0.0.1:${closedPort}/metrics`,
      },
      healthIntervalMs: 100,
      checkTimeoutMs: 1_000,
      longTransactionMs: 200,
      dbTimeoutMs: 3_000,
    },
  });
  const { port } = await server.listen("127.0.0.1", 0);
  client = client$(port);
  http = await startProcessEndpoints({ orm, config, health: server.health, logger, metrics });
  const check = new pg.Client({ connectionString: db.url });
  await check.connect();
  try {
    const r = await check.query(
      `select exists (select 1 from pg_extension where extname = 'pg_stat_statements') and
              current_setting('shared_preload_libraries') ~ 'pg_stat_statements' as ok`,
    );
    pgssAvailable = r.rows[0]?.ok === true;
  } finally {
    await check.end();
  }
});

afterAll(async () => {
  await http?.close();
  await server?.shutdown(1_000);
  await taskServer?.shutdown(1_000);
  await orm?.close(true);
  await db?.drop();
});

describe("GetHealth", () => {
  it("reports every component with the worst status overall", async () => {
    const res = await client.getHealth({});
    const byName = new Map(res.health?.components.map((c) => [c.component, c]));
    expect([...byName.keys()].sort()).toEqual(["database", TASK, TEMPLATE].sort());
    expect(byName.get("database")?.status).toBe(HealthStatus.SERVING);
    expect(byName.get("database")?.kind).toBe(ComponentKind.DATABASE);
    expect(byName.get(TASK)?.status).toBe(HealthStatus.SERVING);
    expect(byName.get(TASK)?.kind).toBe(ComponentKind.SERVICE);
    // Nothing listens on the template address: NOT_SERVING with a readable reason, no secrets.
    const template = byName.get(TEMPLATE);
    expect(template?.status).toBe(HealthStatus.NOT_SERVING);
    expect(template?.message).not.toBe("");
    expect(template?.consecutiveFailures).toBeGreaterThan(0);
    expect(res.health?.status).toBe(HealthStatus.NOT_SERVING);
    expect(res.health?.checkTime).toBeDefined();
  });

  it("restricts to the requested components", async () => {
    const res = await client.getHealth({ components: ["database", TASK] });
    expect(res.health?.components.map((c) => c.component).sort()).toEqual(["database", TASK].sort());
    expect(res.health?.status).toBe(HealthStatus.SERVING);
  });

  it("answers NOT_FOUND for an unknown component and INVALID_ARGUMENT for an empty one", async () => {
    const nf = await rpcError(client.getHealth({ components: ["nope'; drop table tasks; --"] }));
    expect(nf.code).toBe(Code.NotFound);
    expectClean(nf);
    const bad = await rpcError(client.getHealth({ components: ["database", ""] }));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(violationFields(bad)).toEqual(["components[1]"]);
  });
});

describe("WatchHealth", () => {
  it("sends the snapshot first, then a message naming the component whose status changed", async () => {
    const ac = new AbortController();
    const stream = client.watchHealth({ components: [TASK] }, { signal: ac.signal });
    const it = stream[Symbol.asyncIterator]();
    try {
      const first = await it.next();
      expect(first.value?.health?.components.map((c: { component: string }) => c.component)).toEqual([TASK]);
      expect(first.value?.changedComponents).toEqual([]);
      taskHealth.setStatus(TASK, ServingStatus.NOT_SERVING);
      const seen: HealthStatus[] = [];
      for (;;) {
        const next = await it.next();
        expect(next.done).toBe(false);
        expect(next.value?.changedComponents).toEqual([TASK]);
        const status = next.value?.health?.components[0]?.status as HealthStatus;
        seen.push(status);
        if (status === HealthStatus.NOT_SERVING) break;
      }
      // SERVING -> DEGRADED (1-2 failures) -> NOT_SERVING (3 failures).
      expect(seen).toEqual([HealthStatus.DEGRADED, HealthStatus.NOT_SERVING]);
      taskHealth.setStatus(TASK, ServingStatus.SERVING);
      for (;;) {
        const next = await it.next();
        if (next.value?.health?.components[0]?.status === HealthStatus.SERVING) break;
      }
    } finally {
      ac.abort();
      taskHealth.setStatus(TASK, ServingStatus.SERVING);
    }
  });

  it("rejects a heartbeat interval outside 5 s - 5 min and unknown components", async () => {
    const tooShort = await rpcError(
      (async () => {
        for await (const _ of client.watchHealth({
          heartbeatInterval: create(DurationSchema, { seconds: 1n }),
        }))
          break;
      })(),
    );
    expect(tooShort.code).toBe(Code.InvalidArgument);
    expect(violationFields(tooShort)).toEqual(["heartbeat_interval"]);
    const unknown = await rpcError(
      (async () => {
        for await (const _ of client.watchHealth({ components: ["☃"] })) break;
      })(),
    );
    expect(unknown.code).toBe(Code.NotFound);
  });
});

describe("GetDatabaseHealth", () => {
  it("reports latency, version, connections, size, cache ratio, long transactions and waiting locks", async () => {
    const holder = new pg.Client({ connectionString: db.url, application_name: "lock-holder" });
    const waiter = new pg.Client({ connectionString: db.url, application_name: "lock-waiter" });
    await holder.connect();
    await waiter.connect();
    try {
      await holder.query("begin");
      await holder.query("select pg_advisory_xact_lock(4242), 'very-secret-literal' as s");
      const blocked = waiter.query("select pg_advisory_lock(4242)").catch(() => undefined);
      const res = await waitFor(async () => {
        const r = await client.getDatabaseHealth({});
        const d = r.database;
        return d &&
          d.locksWaiting >= 1 &&
          d.longRunningTransactions.some((t) => t.applicationName === "lock-holder")
          ? d
          : undefined;
      });
      expect(res.status).toBe(HealthStatus.SERVING);
      expect(res.reachable).toBe(true);
      expect(res.roundTripLatency).toBeDefined();
      expect(res.serverVersion).toMatch(/^\d+/);
      expect(res.maxConnections).toBeGreaterThan(0);
      expect(res.connections.reduce((n, c) => n + c.count, 0)).toBeGreaterThanOrEqual(2);
      expect(res.databaseSizeBytes).toBeGreaterThan(0n);
      expect(res.cacheHitRatio).toBeGreaterThanOrEqual(0);
      expect(res.cacheHitRatio).toBeLessThanOrEqual(1);
      expect(res.isReplica).toBe(false);
      expect(res.pgStatStatementsEnabled).toBe(pgssAvailable);
      const tx = res.longRunningTransactions.find((t) => t.applicationName === "lock-holder");
      expect(tx?.query).not.toContain("very-secret-literal");
      expect(tx?.query).toContain("?");
      expect(tx?.pid).toBeGreaterThan(0);
      await holder.query("rollback");
      await blocked;
    } finally {
      await holder.end();
      await waiter.end();
    }
  });
});

describe("ListSlowQueries", () => {
  it("validates page_size, threshold, order and page_token", async () => {
    for (const [req, field] of [
      [{ pageSize: 101 }, "page_size"],
      [{ pageSize: -1 }, "page_size"],
      [{ order: 99 as SlowQueryOrder }, "order"],
      [{ threshold: create(DurationSchema, { seconds: -1n }) }, "threshold"],
      [{ pageToken: "not a token'--" }, "page_token"],
    ] as const) {
      const err = await rpcError(client.listSlowQueries(req));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(violationFields(err)).toEqual([field]);
    }
  });

  it("lists normalised statements over the threshold, slowest first, paged (pg_stat_statements present)", async (ctx) => {
    if (!pgssAvailable) ctx.skip();
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      for (let i = 0; i < 3; i++) {
        await c.query("select pg_sleep(0.03), 'hidden-parameter-☃' as p");
        await c.query("select pg_sleep(0.015), 12345 as other");
      }
    } finally {
      await c.end();
    }
    const threshold = create(DurationSchema, { nanos: 10_000_000 });
    const res = await waitFor(async () => {
      const r = await client.listSlowQueries({ threshold, pageSize: 100 });
      return r.slowQueries.some((q) => q.query.includes("pg_sleep")) ? r : undefined;
    });
    const sleeps = res.slowQueries.filter((q) => q.query.includes("pg_sleep"));
    expect(sleeps.length).toBeGreaterThanOrEqual(2);
    for (const q of res.slowQueries) {
      expect(q.query).not.toContain("hidden-parameter");
      expect(q.query).not.toContain("12345");
      expect(q.queryId).toMatch(/^-?\d+$/);
      expect(q.calls).toBeGreaterThan(0n);
    }
    const means = res.slowQueries.map(
      (q) => Number(q.meanExecTime?.seconds) + (q.meanExecTime?.nanos ?? 0) / 1e9,
    );
    expect([...means].sort((a, b) => b - a)).toEqual(means);
    const first = await client.listSlowQueries({ threshold, pageSize: 1, order: SlowQueryOrder.TOTAL_TIME });
    expect(first.slowQueries).toHaveLength(1);
    expect(first.nextPageToken).not.toBe("");
    const second = await client.listSlowQueries({
      threshold,
      pageSize: 1,
      order: SlowQueryOrder.TOTAL_TIME,
      pageToken: first.nextPageToken,
    });
    expect(second.slowQueries[0]?.queryId).not.toBe(first.slowQueries[0]?.queryId);
    // A token is bound to its query.
    const misuse = await rpcError(client.listSlowQueries({ threshold, pageToken: first.nextPageToken }));
    expect(violationFields(misuse)).toEqual(["page_token"]);
  });

  it("answers FAILED_PRECONDITION explaining how to enable pg_stat_statements when it is missing", async () => {
    // A database without the extension (dropped), served by its own monitoring server.
    const bare = await createTestDatabase();
    const c = new pg.Client({ connectionString: bare.url });
    await c.connect();
    await c.query("drop extension if exists pg_stat_statements");
    await c.end();
    const bareOrm = (await initOrm({ url: bare.url, pool: { min: 0, max: 2 } })) as MikroORM;
    const bareServer = createServer({ orm: bareOrm, logger, monitoring: { serviceAddresses: {} } });
    try {
      const { port } = await bareServer.listen("127.0.0.1", 0);
      const err = await rpcError(client$(port).listSlowQueries({}));
      expect(err.code).toBe(Code.FailedPrecondition);
      expect(reasonOf(err)).toBe("PG_STAT_STATEMENTS_MISSING");
      expect(err.rawMessage).toContain("shared_preload_libraries");
      expect(err.rawMessage).toContain("CREATE EXTENSION pg_stat_statements");
      const health = await client$(port).getDatabaseHealth({});
      expect(health.database?.pgStatStatementsEnabled).toBe(false);
    } finally {
      await bareServer.shutdown(500);
      await bareOrm.close(true);
      await bare.drop();
    }
  });
});

describe("GetPoolStats", () => {
  it("reports this process's pool and names the services whose pools live elsewhere", async () => {
    await client.getDatabaseHealth({});
    const res = await client.getPoolStats({});
    expect(res.pools).toHaveLength(1);
    const p = res.pools[0];
    expect(p?.service).toBe("monitoring-service");
    expect(p?.instance).toMatch(/:\d+$/);
    expect(p?.pool).toBe("default");
    expect(p?.maxSize).toBe(4);
    expect(p?.minSize).toBe(0);
    expect(p?.acquireCount).toBeGreaterThan(0n);
    expect((p?.inUse ?? 0) + (p?.idle ?? 0)).toBe(p?.total);
    expect(p?.meanAcquireWait).toBeDefined();
    expect(res.unreachableServices.sort()).toEqual(["task-service", "template-service"]);
    const only = await client.getPoolStats({ services: ["monitoring-service"] });
    expect(only.unreachableServices).toEqual([]);
  });

  it("rejects unknown service names with the field", async () => {
    const err = await rpcError(client.getPoolStats({ services: ["monitoring-service", "<script>"] }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(violationFields(err)).toEqual(["services[1]"]);
  });
});

describe("GetSystemStatus", () => {
  it("reports versions, uptime, profile, migrations and the config with secrets masked", async () => {
    const res = await client.getSystemStatus({});
    const s = res.status;
    expect(s?.profile).toBe("test");
    expect(s?.databaseVersion).toMatch(/^\d+/);
    expect(s?.services[0]?.service).toBe("monitoring-service");
    expect(s?.services[0]?.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(s?.services[0]?.runtimeVersion).toBe(process.version);
    expect(s?.services[0]?.uptime).toBeDefined();
    const names = s?.migrations.map((m) => m.name) ?? [];
    expect(names[0]).toMatch(/initial_schema/);
    expect(names.length).toBeGreaterThanOrEqual(1);
    const json = JSON.stringify(s?.config);
    expect(json).toContain("db.example");
    expect(json).not.toContain("s3cr3t");
    expect(json).not.toContain(encodeURIComponent(secretPassword));
  });
});

describe("HTTP endpoints and metrics", () => {
  const get = (port: number, path: string) => fetch(`http://127.0.0.1:${port}${path}`);

  it("serves /health, /health/database and /status as JSON", async () => {
    const h = await get(http.healthPort, "/health");
    expect(h.status).toBe(200);
    const body = (await h.json()) as { status: string; checks: Record<string, string> };
    expect(body.status).toBe("SERVING");
    expect(body.checks.database).toBe("SERVING");
    const d = await get(http.healthPort, "/health/database");
    expect(d.status).toBe(200);
    expect(((await d.json()) as { reachable: boolean }).reachable).toBe(true);
    const st = await get(http.healthPort, "/status");
    expect(st.status).toBe(200);
    const status = JSON.stringify(await st.json());
    expect(status).toContain('"profile":"test"');
    expect(status).not.toContain("s3cr3t");
    expect((await get(http.healthPort, "/nope")).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${http.healthPort}/health`, { method: "POST" })).status).toBe(405);
  });

  it("serves /metrics in valid Prometheus text format with RPC, pool and process metrics", async () => {
    await client.getHealth({});
    await rpcError(client.getHealth({ components: ["unknown"] }));
    const res = await get(http.metricsPort, "/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const samples = parseExposition(await res.text());
    const rpc = samples.get("rpc_server_requests_total") ?? [];
    const count = (code: string) =>
      rpc.find(
        (s) =>
          s.labels.service === MonitoringService.typeName &&
          s.labels.method === "GetHealth" &&
          s.labels.code === code,
      )?.value ?? 0;
    expect(count("OK")).toBeGreaterThanOrEqual(1);
    expect(count("NOT_FOUND")).toBeGreaterThanOrEqual(1);
    expect(samples.get("rpc_server_duration_seconds_bucket")?.length).toBeGreaterThan(0);
    const pool = samples.get("db_pool_connections") ?? [];
    expect(pool.map((s) => s.labels.state).sort()).toEqual(["idle", "in_use", "waiting"]);
    expect(samples.get("db_pool_max_connections")?.[0]?.value).toBe(4);
    expect(samples.get("db_query_duration_seconds_count")?.[0]?.value).toBeGreaterThan(0);
    expect(samples.has("process_cpu_user_seconds_total")).toBe(true);
    expect(samples.has("nodejs_eventloop_lag_seconds")).toBe(true);
    // The same registry, round-tripped through prom-client's own JSON view.
    const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names).toContain("rpc_server_duration_seconds");
  });

  it("the strict exposition check rejects malformed text", () => {
    expect(() => parseExposition('# TYPE a counter\na{b="c} 1\n')).toThrow();
    expect(() => parseExposition("a 1\n")).toThrow(/without TYPE/);
    expect(() => parseExposition("# TYPE a gauge\na one\n")).toThrow(/bad value/);
  });
});

describe("database down", () => {
  it("answers UNAVAILABLE, reports NOT_SERVING / 503, and recovers by itself", async () => {
    const url = new URL(db.url);
    const proxy = new TcpProxy(url.hostname, Number(url.port || 5432));
    await proxy.up();
    const viaProxy = new URL(db.url);
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = `${proxy.port}`;
    const downOrm = (await initOrm({ url: viaProxy.toString(), pool: { min: 0, max: 2 } })) as MikroORM;
    const downServer = createServer({
      orm: downOrm,
      logger,
      monitoring: { serviceAddresses: {}, healthIntervalMs: 100, checkTimeoutMs: 1_000, dbTimeoutMs: 2_000 },
    });
    const config = loadConfig(
      undefined,
      { TASKMASTER_PROFILE: "test", HEALTH_PORT: "0", METRICS_PORT: "0" },
      {
        service: "down-test",
      },
    );
    const downHttp = await startProcessEndpoints({
      orm: downOrm,
      config,
      health: downServer.health,
      logger,
      metrics: createProcessMetrics({ defaultMetrics: false }),
    });
    try {
      const { port } = await downServer.listen("127.0.0.1", 0);
      const c = client$(port);
      expect((await c.getHealth({})).health?.status).toBe(HealthStatus.SERVING);

      await proxy.down();
      const unavailable = await rpcError(c.getDatabaseHealth({}));
      expect(unavailable.code).toBe(Code.Unavailable);
      expectClean(unavailable);
      for (const call of [c.getSystemStatus({}), c.listSlowQueries({})]) {
        const err = await rpcError(call);
        expect(err.code).toBe(Code.Unavailable);
        expectClean(err);
      }
      await waitFor(async () => (await c.getHealth({})).health?.status === HealthStatus.NOT_SERVING);
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${downHttp.healthPort}/health`)).status === 503,
      );
      const dbRes = await fetch(`http://127.0.0.1:${downHttp.healthPort}/health/database`);
      expect(dbRes.status).toBe(503);
      expect(((await dbRes.json()) as { reachable: boolean }).reachable).toBe(false);
      const grpcHealth = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
      await waitFor(
        async () =>
          (await grpcHealth.check({ service: MonitoringService.typeName })).status ===
          ServingStatus.NOT_SERVING,
      );

      await proxy.up();
      await waitFor(async () => (await c.getHealth({})).health?.status === HealthStatus.SERVING);
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${downHttp.healthPort}/health`)).status === 200,
      );
      expect((await c.getDatabaseHealth({})).database?.reachable).toBe(true);
    } finally {
      await downHttp.close();
      await downServer.shutdown(500);
      await proxy.down();
      await downOrm.close(true);
    }
  });
});
