/**
 * Alerting end to end: real grpc-js server (createServer) on a real socket, a real migrated PostgreSQL, a
 * stand-in task service whose grpc.health.v1 we flip, a real local HTTP server as webhook receiver. The
 * evaluator runs in manual mode with an injected clock: tests call `evaluateOnce()`; no sleeps.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { DurationSchema, FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { type Client, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { loadConfig } from "@taskmaster/config/config";
import { initOrm } from "@taskmaster/persistence/orm-config";
import {
  AlertCondition,
  type AlertRule,
  type AlertRuleSchema,
  AlertSeverity,
  AlertState,
  WebhookDeliveryState,
} from "@taskmaster/proto/gen/taskmaster/monitoring/v1/alert_pb";
import { HealthStatus } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/health_pb";
import {
  MonitoringService,
  type WatchAlertsResponse,
} from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { createGrpcServer, type GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { HealthRegistry, ServingStatus } from "@taskmaster/rpc-kit/health";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createProcessMetrics } from "@taskmaster/telemetry/metrics";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { AlertRuntime } from "./alert-runtime.js";
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

type RuleInit = MessageInitShape<typeof AlertRuleSchema>;

const TASK = "taskmaster.task.v1.TaskService";
const logger = createLogger({ service: "alert-test", level: "silent" });
const metrics = createProcessMetrics({ defaultMetrics: false });

let db: TestDatabase;
let orm: MikroORM;
let server: GrpcServer | undefined;
let client: Client<typeof MonitoringService>;
let taskHealth: HealthRegistry;
let taskServer: GrpcServer;
let runtime: AlertRuntime;
let pgssAvailable = false;
let now = Date.parse("2026-11-25T12:00:00Z");

/** Advance the injected clock past every rule interval and evaluate once. */
async function tick(ms = 60_000): Promise<void> {
  now += ms;
  await runtime.evaluator.evaluateOnce();
}

function rule(overrides: RuleInit = {}): RuleInit {
  return {
    displayName: "rule",
    condition: AlertCondition.ERROR_RATE,
    threshold: 0.5,
    enabled: false,
    ...overrides,
  };
}

async function createRule(overrides: RuleInit = {}): Promise<AlertRule> {
  const res = await client.createAlertRule({ alertRule: rule(overrides) });
  return res.alertRule as AlertRule;
}

const created: string[] = [];
async function enabledRule(overrides: RuleInit): Promise<AlertRule> {
  const r = await createRule({ enabled: true, ...overrides });
  created.push(r.name);
  return r;
}

async function alertsOf(ruleName: string) {
  return (await client.listAlerts({ filter: `alert_rule = "${ruleName}"`, orderBy: "fire_time" })).alerts;
}

function errorRpcs(ok: number, internal: number): void {
  const labels = { service: "taskmaster.monitoring.v1.MonitoringService", method: "GetHealth" };
  metrics.rpcRequests.inc({ ...labels, code: "OK" }, ok);
  if (internal > 0) metrics.rpcRequests.inc({ ...labels, code: "INTERNAL" }, internal);
  metrics.rpcRequests.inc({ ...labels, code: "NOT_FOUND" }, 1); // client-side code: not an error
}

/** An open WatchAlerts stream whose subscription is confirmed server-side. */
async function watch(filter: string, includeFiring = false) {
  const ac = new AbortController();
  const before = runtime.hub.subscribers;
  const it = client
    .watchAlerts({ filter, includeFiring }, { signal: ac.signal })
    [Symbol.asyncIterator]() as AsyncIterator<WatchAlertsResponse>;
  const first = includeFiring ? undefined : it.next();
  if (!includeFiring) await waitFor(async () => runtime.hub.subscribers > before);
  let pending = first;
  return {
    async next(): Promise<WatchAlertsResponse> {
      const p = pending ?? it.next();
      pending = undefined;
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([
        p,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("no stream message within 10 s")), 10_000);
        }),
      ]).finally(() => clearTimeout(timer));
      if (r.done) throw new Error("stream ended");
      return r.value;
    },
    pendingNext(): Promise<IteratorResult<WatchAlertsResponse>> {
      const p = pending ?? it.next();
      pending = undefined;
      return p;
    },
    close: () => ac.abort(),
  };
}

beforeAll(async () => {
  db = await createTestDatabase();
  orm = (await initOrm({ url: db.monitorUrl, pool: { min: 0, max: 6 } })) as MikroORM;
  taskHealth = new HealthRegistry({ cacheMs: 0 });
  taskHealth.setStatus(TASK, ServingStatus.SERVING);
  taskServer = createGrpcServer({ logger, services: [], health: taskHealth, reflection: false });
  const { port: taskPort } = await taskServer.listen("127.0.0.1", 0);
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
      serviceAddresses: { [TASK]: `127.0.0.1:${taskPort}` },
      // Only this process's figures (pool-stats.spec.ts covers the other processes' /metrics).
      serviceMetricsUrls: {},
      healthIntervalMs: 100,
      checkTimeoutMs: 1_000,
      dbTimeoutMs: 3_000,
      alerting: {
        manual: true,
        clock: () => new Date(now),
        metrics,
        webhook: { maxAttempts: 4, baseDelayMs: 20, timeoutMs: 3_000 },
        onCreated: (r) => {
          runtime = r;
        },
      },
    },
  });
  const { port } = await server.listen("127.0.0.1", 0);
  client = createClient(MonitoringService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
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
  // The migrations create default rules over every service (Migration20261206121000_default_alert_rules);
  // they exist, and are disabled here so each test sees only the rules it creates.
  const defaults = (
    await client.listAlertRules({ filter: 'service = ""', pageSize: 1000 })
  ).alertRules.filter((x) => x.name.startsWith("alertRules/a1e7d0f0-0000-4000-8000-00000000000"));
  expect(defaults.map((x) => x.condition).sort()).toEqual(
    [
      AlertCondition.DATABASE_DOWN,
      AlertCondition.COMPONENT_DOWN,
      AlertCondition.ERROR_RATE,
      AlertCondition.POOL_SATURATION,
      AlertCondition.BACKUP_STALE,
      AlertCondition.RESTORE_TEST_FAILED,
    ].sort(),
  );
  expect(defaults.every((x) => x.enabled)).toBe(true);
  for (const x of defaults) {
    await client.updateAlertRule({
      alertRule: { name: x.name, enabled: false },
      updateMask: { paths: ["enabled"] },
    });
  }
});

afterEach(async () => {
  // Rules of evaluator tests are removed so they do not fire in later tests.
  for (const name of created.splice(0)) await client.deleteAlertRule({ name }).catch(() => undefined);
  await runtime.evaluator.evaluateOnce();
  await runtime.notifier.idle();
});

afterAll(async () => {
  await server?.shutdown(1_000);
  await taskServer?.shutdown(1_000);
  await orm?.close(true);
  await db?.drop();
});

describe("CreateAlertRule / GetAlertRule", () => {
  it("stores every field verbatim (unicode, SQL metacharacters) with defaults and an etag", async () => {
    const display = "Ünïcødé ☃ '); drop table alert_rules; --";
    const description = `${"x".repeat(1990)}"\\%_`;
    const r = await createRule({
      displayName: display,
      description,
      condition: AlertCondition.POOL_SATURATION,
      threshold: 0.9,
      service: "task-service",
      forDuration: create(DurationSchema, { seconds: 120n }),
      severity: AlertSeverity.CRITICAL,
      enabled: true,
      webhookUrl: "https://hooks.example.com/alert?token=abc",
    });
    created.push(r.name);
    expect(r.name).toMatch(/^alertRules\/[0-9a-f-]{36}$/);
    expect(r.uid).toBe(r.name.split("/")[1]);
    expect(r.displayName).toBe(display);
    expect(r.description).toBe(description);
    expect(r.condition).toBe(AlertCondition.POOL_SATURATION);
    expect(r.threshold).toBe(0.9);
    expect(r.service).toBe("task-service");
    expect(r.evaluationInterval?.seconds).toBe(30n);
    expect(r.forDuration?.seconds).toBe(120n);
    expect(r.severity).toBe(AlertSeverity.CRITICAL);
    expect(r.enabled).toBe(true);
    expect(r.webhookUrl).toBe("https://hooks.example.com/alert?token=abc");
    expect(r.etag).toBe('W/"1"');
    expect(r.createTime).toBeDefined();
    const got = (await client.getAlertRule({ name: r.name })).alertRule;
    expect(got).toEqual(r);
  });

  it("defaults severity to WARNING and a slow-query threshold of 0 to 1000 ms", async () => {
    const r = await createRule({ condition: AlertCondition.SLOW_QUERY, threshold: 0 });
    expect(r.severity).toBe(AlertSeverity.WARNING);
    expect(r.threshold).toBe(1000);
    expect(r.enabled).toBe(false);
  });

  it("is idempotent on request_id and stores nothing with validate_only", async () => {
    const requestId = "0193a1b2-0000-7000-8000-0000000000aa";
    const a = await client.createAlertRule({ alertRule: rule({ displayName: "idem" }), requestId });
    const b = await client.createAlertRule({ alertRule: rule({ displayName: "idem" }), requestId });
    expect(b.alertRule?.name).toBe(a.alertRule?.name);
    const dry = await client.createAlertRule({
      alertRule: rule({ displayName: "dry-run" }),
      validateOnly: true,
    });
    expect(dry.alertRule?.displayName).toBe("dry-run");
    const list = await client.listAlertRules({ filter: 'service = ""', pageSize: 1000 });
    expect(list.alertRules.filter((x) => x.displayName === "dry-run")).toEqual([]);
    expect(list.alertRules.filter((x) => x.displayName === "idem")).toHaveLength(1);
  });

  it("rejects bad fields with one violation per field", async () => {
    const missing = await rpcError(client.createAlertRule({}));
    expect(missing.code).toBe(Code.InvalidArgument);
    expect(violationFields(missing)).toEqual(["alert_rule"]);
    const bad = await rpcError(
      client.createAlertRule({
        requestId: "not-a-uuid",
        alertRule: {
          displayName: "",
          description: "d".repeat(2001),
          condition: 0 as AlertCondition,
          threshold: -1,
          service: "bad service!",
          evaluationInterval: create(DurationSchema, { seconds: 1n }),
          forDuration: create(DurationSchema, { seconds: 90_000n }),
          severity: 0 as AlertSeverity,
          webhookUrl: "ftp://example.com/hook",
        },
      }),
    );
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(violationFields(bad).sort()).toEqual(
      [
        "request_id",
        "alert_rule.display_name",
        "alert_rule.description",
        "alert_rule.condition",
        "alert_rule.threshold",
        "alert_rule.service",
        "alert_rule.evaluation_interval",
        "alert_rule.for_duration",
        "alert_rule.webhook_url",
      ].sort(),
    );
    expectClean(bad);
    const more = await rpcError(
      client.createAlertRule({
        alertRule: rule({
          displayName: "n".repeat(101),
          condition: AlertCondition.UNSPECIFIED,
          threshold: Number.NaN,
          webhookUrl: "not a url",
        }),
      }),
    );
    expect(violationFields(more).sort()).toEqual(
      [
        "alert_rule.display_name",
        "alert_rule.condition",
        "alert_rule.threshold",
        "alert_rule.webhook_url",
      ].sort(),
    );
    const ratio = await rpcError(
      client.createAlertRule({ alertRule: rule({ condition: AlertCondition.ERROR_RATE, threshold: 1.5 }) }),
    );
    expect(violationFields(ratio)).toEqual(["alert_rule.threshold"]);
  });

  it("answers INVALID_ARGUMENT for malformed names and NOT_FOUND for unknown ones", async () => {
    for (const name of [
      "",
      "alertRules/xyz",
      "alerts/0193a1b2-0000-7000-8000-000000000001",
      "alertRules/'; --",
    ]) {
      const err = await rpcError(client.getAlertRule({ name }));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(violationFields(err)).toEqual(["name"]);
      expectClean(err);
    }
    const nf = await rpcError(
      client.getAlertRule({ name: "alertRules/0193a1b2-0000-7000-8000-000000000001" }),
    );
    expect(nf.code).toBe(Code.NotFound);
    expectClean(nf);
  });
});

describe("ListAlertRules", () => {
  it("pages without gaps or duplicates, filters and orders", async () => {
    const svc = `list-${Date.now()}`;
    const names = new Set<string>();
    for (const [i, sev] of [AlertSeverity.INFO, AlertSeverity.CRITICAL, AlertSeverity.WARNING].entries()) {
      for (const cond of [AlertCondition.ERROR_RATE, AlertCondition.DATABASE_DOWN]) {
        const r = await createRule({
          displayName: `L${i}-${cond}`,
          service: svc,
          severity: sev,
          condition: cond,
        });
        names.add(r.name);
      }
    }
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const res = await client.listAlertRules({
        pageSize: 4,
        pageToken: token,
        filter: `service = "${svc}"`,
      });
      seen.push(...res.alertRules.map((r) => r.name));
      token = res.nextPageToken;
      pages++;
    } while (token !== "");
    expect(pages).toBe(2);
    expect(seen.sort()).toEqual([...names].sort());

    const critical = await client.listAlertRules({
      filter: `service = "${svc}" AND severity = CRITICAL AND condition = DATABASE_DOWN AND enabled = false`,
    });
    expect(critical.alertRules.map((r) => r.displayName)).toEqual([`L1-${AlertCondition.DATABASE_DOWN}`]);
    const atLeastWarning = await client.listAlertRules({
      filter: `service = "${svc}" AND severity >= WARNING`,
      orderBy: "severity desc",
    });
    expect(atLeastWarning.alertRules.map((r) => r.severity)).toEqual([
      AlertSeverity.CRITICAL,
      AlertSeverity.CRITICAL,
      AlertSeverity.WARNING,
      AlertSeverity.WARNING,
    ]);
    const byName = await client.listAlertRules({
      filter: `service = "${svc}"`,
      orderBy: "display_name desc",
    });
    const display = byName.alertRules.map((r) => r.displayName);
    expect(display).toEqual([...display].sort().reverse());
    const huge = await client.listAlertRules({ filter: `service = "${svc}"`, pageSize: 5000 });
    expect(huge.alertRules).toHaveLength(6);
  });

  it("rejects bad page sizes, filters, orderings and foreign page tokens", async () => {
    const neg = await rpcError(client.listAlertRules({ pageSize: -1 }));
    expect(violationFields(neg)).toEqual(["page_size"]);
    for (const filter of [
      'bogus = "x"',
      "severity = LOUD",
      "enabled = maybe",
      'service = "a" OR service = "b"',
      "'",
    ]) {
      const err = await rpcError(client.listAlertRules({ filter }));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(violationFields(err)).toEqual(["filter"]);
      expectClean(err);
    }
    const order = await rpcError(client.listAlertRules({ orderBy: "threshold; drop table x" }));
    expect(violationFields(order)).toEqual(["order_by"]);
    await createRule({ displayName: "t1" });
    await createRule({ displayName: "t2" });
    const page = await client.listAlertRules({ pageSize: 1 });
    expect(page.nextPageToken).not.toBe("");
    const foreign = await rpcError(
      client.listAlertRules({ pageSize: 1, pageToken: page.nextPageToken, filter: "enabled = true" }),
    );
    expect(violationFields(foreign)).toEqual(["page_token"]);
    const garbage = await rpcError(client.listAlertRules({ pageToken: "%%%" }));
    expect(violationFields(garbage)).toEqual(["page_token"]);
  });
});

/** Backends other than `except` (and this one) still running a statement on `table`. */
async function runningOn(check: pg.Client, table: string, except: number): Promise<number> {
  const { rows } = await check.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity
      where datname = current_database() and pid <> $1 and pid <> pg_backend_pid()
        and state = 'active' and query ilike '%' || $2 || '%'`,
    [except, table],
  );
  return rows[0]?.n ?? 0;
}

describe("bounded database work (statement_timeout + cancellation, not a timer race)", () => {
  it("answers UNAVAILABLE for a read that cannot finish in time and leaves no query running on the pool", async () => {
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
      await waitFor(async () => (await runningOn(check, "alert_rules", lockerPid)) === 0, 5_000);
      await locker.query("rollback");
      // The pool's connections are usable again.
      expect((await client.listAlertRules({ pageSize: 10 })).alertRules.length).toBeGreaterThan(0);
    } finally {
      await locker.end();
      await check.end();
    }
  });
});

describe("UpdateAlertRule / DeleteAlertRule", () => {
  it("updates only masked fields, bumps the etag and refuses stale etags", async () => {
    const r = await createRule({ displayName: "before", description: "keep me" });
    const mask = (...paths: string[]) => create(FieldMaskSchema, { paths });
    const up = (
      await client.updateAlertRule({
        alertRule: {
          name: r.name,
          etag: r.etag,
          displayName: "after ☃",
          description: "ignored",
          threshold: 0.25,
        },
        updateMask: mask("display_name", "threshold"),
      })
    ).alertRule as AlertRule;
    expect(up.displayName).toBe("after ☃");
    expect(up.description).toBe("keep me");
    expect(up.threshold).toBe(0.25);
    expect(up.etag).toBe('W/"2"');
    const stale = await rpcError(
      client.updateAlertRule({
        alertRule: { name: r.name, etag: r.etag, displayName: "x" },
        updateMask: mask("display_name"),
      }),
    );
    expect(stale.code).toBe(Code.Aborted);
    expect(reasonOf(stale)).toBe("ETAG_MISMATCH");
    const dry = await client.updateAlertRule({
      alertRule: { name: r.name, displayName: "dry" },
      updateMask: mask("display_name"),
      validateOnly: true,
    });
    expect(dry.alertRule?.displayName).toBe("dry");
    expect((await client.getAlertRule({ name: r.name })).alertRule?.displayName).toBe("after ☃");
    // Combination checked against the stored rule: ERROR_RATE threshold is a ratio.
    const ratio = await rpcError(
      client.updateAlertRule({ alertRule: { name: r.name, threshold: 3 }, updateMask: mask("threshold") }),
    );
    expect(violationFields(ratio)).toEqual(["alert_rule.threshold"]);
  });

  it("lets exactly one of two concurrent writers with the same etag win", async () => {
    const r = await createRule({ displayName: "race" });
    const mask = create(FieldMaskSchema, { paths: ["display_name"] });
    const results = await Promise.allSettled(
      ["a", "b"].map((d) =>
        client.updateAlertRule({
          alertRule: { name: r.name, etag: r.etag, displayName: d },
          updateMask: mask,
        }),
      ),
    );
    expect(results.filter((x) => x.status === "fulfilled")).toHaveLength(1);
    const failed = results.find((x) => x.status === "rejected") as PromiseRejectedResult;
    expect((await rpcError(Promise.reject(failed.reason))).code).toBe(Code.Aborted);
  });

  it("validates the mask, the name and the etag", async () => {
    const r = await createRule();
    const bad = await rpcError(
      client.updateAlertRule({
        alertRule: { name: r.name, etag: "nope" },
        updateMask: create(FieldMaskSchema, { paths: ["uid", "bogus"] }),
      }),
    );
    expect(violationFields(bad).sort()).toEqual([
      "alert_rule.etag",
      "update_mask.paths[0]",
      "update_mask.paths[1]",
    ]);
    const noMask = await rpcError(client.updateAlertRule({ alertRule: { name: r.name } }));
    expect(violationFields(noMask)).toEqual(["update_mask"]);
    const badValue = await rpcError(
      client.updateAlertRule({
        alertRule: { name: r.name, severity: AlertSeverity.UNSPECIFIED, displayName: "" },
        updateMask: create(FieldMaskSchema, { paths: ["severity", "display_name"] }),
      }),
    );
    expect(violationFields(badValue).sort()).toEqual(["alert_rule.display_name", "alert_rule.severity"]);
    const badName = await rpcError(
      client.updateAlertRule({
        alertRule: { name: "alertRules/1" },
        updateMask: create(FieldMaskSchema, { paths: ["enabled"] }),
      }),
    );
    expect(violationFields(badName)).toEqual(["alert_rule.name"]);
    const nf = await rpcError(
      client.updateAlertRule({
        alertRule: { name: "alertRules/0193a1b2-0000-7000-8000-000000000009" },
        updateMask: create(FieldMaskSchema, { paths: ["enabled"] }),
      }),
    );
    expect(nf.code).toBe(Code.NotFound);
  });

  it("deletes with etag checks; a deleted rule is NOT_FOUND", async () => {
    const r = await createRule();
    const stale = await rpcError(client.deleteAlertRule({ name: r.name, etag: 'W/"7"' }));
    expect(stale.code).toBe(Code.Aborted);
    const badEtag = await rpcError(client.deleteAlertRule({ name: r.name, etag: "7" }));
    expect(violationFields(badEtag)).toEqual(["etag"]);
    await client.deleteAlertRule({ name: r.name, etag: r.etag });
    expect((await rpcError(client.getAlertRule({ name: r.name }))).code).toBe(Code.NotFound);
    expect((await rpcError(client.deleteAlertRule({ name: r.name }))).code).toBe(Code.NotFound);
    expect(violationFields(await rpcError(client.deleteAlertRule({ name: "x" })))).toEqual(["name"]);
  });
});

describe("evaluation, alerts and WatchAlerts", () => {
  it("fires once while an error rate holds, streams it, and resolves when it stops", async () => {
    const r = await enabledRule({
      displayName: "errors",
      condition: AlertCondition.ERROR_RATE,
      threshold: 0.2,
    });
    const stream = await watch(`alert_rule = "${r.name}"`);
    try {
      errorRpcs(6, 4);
      await tick();
      const fired = await stream.next();
      if (fired.message.case !== "alert") throw new Error("expected an alert");
      const a = fired.message.value;
      expect(a.state).toBe(AlertState.FIRING);
      expect(a.alertRule).toBe(r.name);
      expect(a.condition).toBe(AlertCondition.ERROR_RATE);
      expect(a.observedValue).toBeCloseTo(4 / 11, 5);
      expect(a.threshold).toBe(0.2);
      expect(a.webhookDeliveryState).toBe(WebhookDeliveryState.NOT_CONFIGURED);
      // Still failing: no second alert.
      errorRpcs(1, 1);
      await tick();
      errorRpcs(0, 3);
      await tick();
      const stored = await alertsOf(r.name);
      expect(stored).toHaveLength(1);
      expect(stored[0]?.state).toBe(AlertState.FIRING);
      expect((await client.getAlert({ name: a.name })).alert?.state).toBe(AlertState.FIRING);
      // Only successes now: resolved.
      errorRpcs(50, 0);
      await tick();
      const resolved = await stream.next();
      if (resolved.message.case !== "alert") throw new Error("expected an alert");
      expect(resolved.message.value.name).toBe(a.name);
      expect(resolved.message.value.state).toBe(AlertState.RESOLVED);
      const got = (await client.getAlert({ name: a.name })).alert;
      expect(got?.state).toBe(AlertState.RESOLVED);
      expect(got?.resolveTime).toBeDefined();
      const firingList = await client.listAlerts({ filter: `alert_rule = "${r.name}" AND state = FIRING` });
      expect(firingList.alerts).toEqual([]);
    } finally {
      stream.close();
    }
  });

  it("waits for for_duration and respects the rule's evaluation interval", async () => {
    const r = await enabledRule({
      displayName: "patient",
      condition: AlertCondition.ERROR_RATE,
      threshold: 0,
      evaluationInterval: create(DurationSchema, { seconds: 60n }),
      forDuration: create(DurationSchema, { seconds: 120n }),
    });
    errorRpcs(0, 1);
    await tick(60_000); // condition holds: pending since now
    errorRpcs(0, 1);
    await tick(30_000); // not due (interval 60 s)
    errorRpcs(0, 1);
    await tick(30_000); // due, held 60 s < 120 s
    expect(await alertsOf(r.name)).toEqual([]);
    errorRpcs(0, 1);
    await tick(60_000); // held 120 s: fires
    const alerts = await alertsOf(r.name);
    expect(alerts.map((a) => a.state)).toEqual([AlertState.FIRING]);
  });

  it("fires on pool saturation while a connection is held", async () => {
    const r = await enabledRule({
      displayName: "pool",
      condition: AlertCondition.POOL_SATURATION,
      threshold: 0,
    });
    await orm.em.fork().transactional(async (em) => {
      await em.getConnection().execute("select 1", [], "all", em.getTransactionContext());
      await tick();
    });
    const [alert] = await alertsOf(r.name);
    expect(alert?.state).toBe(AlertState.FIRING);
    expect(alert?.observedValue).toBeGreaterThan(0);
    expect(alert?.summary).toContain("connections");
    await waitFor(async () => {
      await tick();
      return (await alertsOf(r.name))[0]?.state === AlertState.RESOLVED;
    });
  });

  it("fires on a slow statement from pg_stat_statements", async (ctx) => {
    if (!pgssAvailable) ctx.skip();
    const r = await enabledRule({ displayName: "slow", condition: AlertCondition.SLOW_QUERY, threshold: 20 });
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query("select pg_sleep(0.06)");
    } finally {
      await c.end();
    }
    await tick();
    const [alert] = await alertsOf(r.name);
    expect(alert?.state).toBe(AlertState.FIRING);
    expect(alert?.observedValue).toBeGreaterThan(20);
    expect(alert?.summary).not.toMatch(/pg_sleep/);
  });

  it("fires when a component is NOT_SERVING and resolves when it is back", async () => {
    const r = await enabledRule({
      displayName: "task down",
      condition: AlertCondition.COMPONENT_DOWN,
      service: "task-service",
      severity: AlertSeverity.CRITICAL,
    });
    const componentStatus = async () =>
      (await client.getHealth({ components: [TASK] })).health?.components[0]?.status;
    try {
      await tick();
      expect(await alertsOf(r.name)).toEqual([]);
      taskHealth.setStatus(TASK, ServingStatus.NOT_SERVING);
      await waitFor(async () => (await componentStatus()) === HealthStatus.NOT_SERVING);
      await tick();
      const [alert] = await alertsOf(r.name);
      expect(alert?.state).toBe(AlertState.FIRING);
      expect(alert?.severity).toBe(AlertSeverity.CRITICAL);
      expect(alert?.summary).toContain(TASK);
    } finally {
      taskHealth.setStatus(TASK, ServingStatus.SERVING);
    }
    await waitFor(async () => (await componentStatus()) === HealthStatus.SERVING);
    await tick();
    expect((await alertsOf(r.name))[0]?.state).toBe(AlertState.RESOLVED);
  });

  it("posts transitions to the webhook with retries and backoff without blocking evaluation", async () => {
    const received: { body: string; attempt: string | undefined; type: string | undefined }[] = [];
    let release: (() => void) | undefined;
    const firstHeld = new Promise<void>((resolve) => {
      release = resolve;
    });
    const http: Server = createHttpServer((req: IncomingMessage, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        received.push({
          body,
          attempt: req.headers["x-taskmaster-delivery-attempt"] as string | undefined,
          type: req.headers["content-type"],
        });
        const n = received.length;
        if (n === 1) {
          void firstHeld.then(() => res.writeHead(503).end());
        } else if (n === 2) {
          res.writeHead(500).end();
        } else {
          res.writeHead(204).end();
        }
      });
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const addr = http.address();
    const port = typeof addr === "object" && addr ? addr.port : 0;
    try {
      const r = await enabledRule({
        displayName: "hooked ☃",
        condition: AlertCondition.ERROR_RATE,
        threshold: 0.1,
        webhookUrl: `http://127.0.0.1:${port}/hook`,
      });
      errorRpcs(1, 1);
      // evaluateOnce returns while the receiver still holds the first delivery.
      await tick();
      await waitFor(async () => received.length === 1);
      const [pending] = await alertsOf(r.name);
      expect(pending?.state).toBe(AlertState.FIRING);
      expect(pending?.webhookDeliveryState).toBe(WebhookDeliveryState.PENDING);
      release?.();
      await runtime.notifier.idle();
      expect(received.map((x) => x.attempt)).toEqual(["1", "2", "3"]);
      expect(new Set(received.map((x) => x.body)).size).toBe(1);
      expect(received[0]?.type).toBe("application/json");
      const payload = JSON.parse(received[0]?.body ?? "{}");
      expect(payload).toMatchObject({
        version: "1",
        status: "firing",
        alert: {
          name: pending?.name,
          alertRule: r.name,
          ruleDisplayName: "hooked ☃",
          state: "ALERT_STATE_FIRING",
          condition: "ALERT_CONDITION_ERROR_RATE",
          threshold: 0.1,
          resolveTime: null,
        },
      });
      expect(received[0]?.body).not.toContain(`${port}/hook`);
      const delivered = (await client.getAlert({ name: pending?.name ?? "" })).alert;
      expect(delivered?.webhookDeliveryState).toBe(WebhookDeliveryState.DELIVERED);
      expect(delivered?.webhookAttempts).toBe(3);
      // The resolution is delivered too (first attempt succeeds now).
      errorRpcs(10, 0);
      await tick();
      await runtime.notifier.idle();
      expect(received).toHaveLength(4);
      expect(JSON.parse(received[3]?.body ?? "{}").status).toBe("resolved");
      const resolved = (await client.getAlert({ name: pending?.name ?? "" })).alert;
      expect(resolved?.state).toBe(AlertState.RESOLVED);
      expect(resolved?.webhookDeliveryState).toBe(WebhookDeliveryState.DELIVERED);
      expect(resolved?.webhookAttempts).toBe(1);
    } finally {
      release?.();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  });

  it("records FAILED after bounded attempts; a deleted rule resolves its alert, which stays", async () => {
    const http = createHttpServer((_req, res) => res.writeHead(503).end());
    let hits = 0;
    http.on("request", () => {
      hits++;
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const addr = http.address();
    const port = typeof addr === "object" && addr ? addr.port : 0;
    try {
      const r = await createRule({
        displayName: "failing hook",
        enabled: true,
        condition: AlertCondition.ERROR_RATE,
        threshold: 0.1,
        webhookUrl: `http://127.0.0.1:${port}/`,
      });
      errorRpcs(0, 2);
      await tick();
      await runtime.notifier.idle();
      expect(hits).toBe(4);
      const [alert] = await alertsOf(r.name);
      expect(alert?.webhookDeliveryState).toBe(WebhookDeliveryState.FAILED);
      expect(alert?.webhookAttempts).toBe(4);
      await client.deleteAlertRule({ name: r.name });
      await tick();
      await runtime.notifier.idle();
      const kept = (await client.getAlert({ name: alert?.name ?? "" })).alert;
      expect(kept?.state).toBe(AlertState.RESOLVED);
    } finally {
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  });

  it("raises BACKUP_STALE when the newest verified backup is too old and RESTORE_TEST_FAILED on a failed restore test", async () => {
    const stale = await enabledRule({
      displayName: "backup stale",
      condition: AlertCondition.BACKUP_STALE,
      threshold: 24,
    });
    const failed = await enabledRule({
      displayName: "restore failed",
      condition: AlertCondition.RESTORE_TEST_FAILED,
    });
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    // What `db verify-backup` and the backup daemon record for each restore test (restore-test-record.ts).
    const restoreTest = (id: string, finished: number, ok: boolean, problems = "") =>
      sql.query(
        `insert into backup_restore_tests (backup_id, backup_kind, backup_finished_at, tested_at, ok, problems)
         values ($1, 'base', $2, $3, $4, $5)`,
        [id, new Date(finished), new Date(now), ok, problems],
      );
    try {
      await tick();
      // No restore test recorded yet: no data, nothing fires.
      expect(await alertsOf(stale.name)).toEqual([]);
      expect(await alertsOf(failed.name)).toEqual([]);
      await restoreTest("b1", now, true);
      await tick();
      expect(await alertsOf(stale.name)).toEqual([]);
      // A day and more without a newer verified backup.
      await tick(25 * 3_600_000);
      const [staleAlert] = await alertsOf(stale.name);
      expect(staleAlert).toMatchObject({ state: AlertState.FIRING, condition: AlertCondition.BACKUP_STALE });
      expect(staleAlert?.observedValue).toBeGreaterThan(24);
      expect(staleAlert?.summary).toContain("newest verified backup");
      // The next backup's restore test fails: the backup is not counted as verified either.
      await restoreTest(
        "b2",
        now,
        false,
        "foreign key tasks_parent_id_foreign on tasks: 1 row(s) reference a missing row of tasks",
      );
      await tick();
      const [failedAlert] = await alertsOf(failed.name);
      expect(failedAlert).toMatchObject({
        state: AlertState.FIRING,
        condition: AlertCondition.RESTORE_TEST_FAILED,
        observedValue: 1,
      });
      expect(failedAlert?.summary).toContain("b2 failed: foreign key");
      expect((await alertsOf(stale.name))[0]?.state).toBe(AlertState.FIRING);
      // A fresh backup passes its restore test: both resolve.
      await tick();
      await restoreTest("b3", now, true);
      await tick();
      expect((await alertsOf(stale.name))[0]?.state).toBe(AlertState.RESOLVED);
      expect((await alertsOf(failed.name))[0]?.state).toBe(AlertState.RESOLVED);
    } finally {
      await sql.query("delete from backup_restore_tests");
      await sql.end();
    }
  });

  it("GetAlert / ListAlerts / WatchAlerts reject bad input", async () => {
    expect(violationFields(await rpcError(client.getAlert({ name: "alerts/zz" })))).toEqual(["name"]);
    const nf = await rpcError(client.getAlert({ name: "alerts/0193a1b2-0000-7000-8000-000000000001" }));
    expect(nf.code).toBe(Code.NotFound);
    expectClean(nf);
    expect(violationFields(await rpcError(client.listAlerts({ pageSize: -5 })))).toEqual(["page_size"]);
    for (const filter of [
      "state = DONE",
      'fire_time > "yesterday"',
      "alert_rule = alertRules/1",
      "service = x",
    ]) {
      expect(violationFields(await rpcError(client.listAlerts({ filter })))).toEqual(["filter"]);
    }
    expect(violationFields(await rpcError(client.listAlerts({ orderBy: "summary" })))).toEqual(["order_by"]);
    const recent = await client.listAlerts({
      filter: "fire_time >= 2000-01-01T00:00:00Z AND severity >= INFO",
    });
    expect(recent.alerts.length).toBeGreaterThan(0);
    const drain = (req: Parameters<typeof client.watchAlerts>[0]) =>
      rpcError(
        (async () => {
          for await (const _ of client.watchAlerts(req)) break;
        })(),
      );
    const hb = await drain({ heartbeatInterval: create(DurationSchema, { seconds: 1n }) });
    expect(hb.code).toBe(Code.InvalidArgument);
    expect(violationFields(hb)).toEqual(["heartbeat_interval"]);
    expect(violationFields(await drain({ filter: "nope = 1" }))).toEqual(["filter"]);
  });

  it("raises DATABASE_DOWN while the database is unreachable and records it once it is back", async () => {
    const r = await enabledRule({ displayName: "db down", condition: AlertCondition.DATABASE_DOWN });
    const url = new URL(db.url);
    const proxy = new TcpProxy(url.hostname, Number(url.port || 5432));
    await proxy.up();
    const viaProxy = new URL(db.url);
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = `${proxy.port}`;
    const downOrm = (await initOrm({ url: viaProxy.toString(), pool: { min: 0, max: 2 } })) as MikroORM;
    let downRuntime: AlertRuntime | undefined;
    const downServer = createServer({
      orm: downOrm,
      logger,
      monitoring: {
        serviceAddresses: {},
        healthIntervalMs: 100,
        checkTimeoutMs: 1_000,
        dbTimeoutMs: 2_000,
        alerting: {
          manual: true,
          clock: () => new Date(now),
          metrics,
          onCreated: (x) => {
            downRuntime = x;
          },
        },
      },
    });
    const events: { id: string; state: string }[] = [];
    const unsubscribe = downRuntime?.hub.subscribe(
      (a) => events.push({ id: a.id, state: a.state }),
      () => undefined,
    );
    try {
      const { port } = await downServer.listen("127.0.0.1", 0);
      const c = createClient(MonitoringService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
      const dbStatus = async () => (await c.getHealth({ components: ["database"] })).health?.status;
      const evaluate = async () => {
        now += 60_000;
        await downRuntime?.evaluator.evaluateOnce();
      };
      await waitFor(async () => (await dbStatus()) === HealthStatus.SERVING);
      await evaluate();
      expect(events).toEqual([]);

      await proxy.down();
      await waitFor(async () => (await dbStatus()) === HealthStatus.NOT_SERVING);
      await evaluate();
      // Announced right away (streams, webhooks); the write waits for the database.
      expect(events.map((e) => e.state)).toEqual(["firing"]);
      expect(downRuntime?.evaluator.unsavedWrites()).toBe(1);
      expect(await alertsOf(r.name)).toEqual([]);
      await evaluate();
      expect(events).toHaveLength(1);

      await proxy.up();
      await waitFor(async () => (await dbStatus()) === HealthStatus.SERVING);
      await evaluate();
      expect(events.map((e) => e.state)).toEqual(["firing", "resolved"]);
      expect(downRuntime?.evaluator.unsavedWrites()).toBe(0);
      const stored = await alertsOf(r.name);
      expect(stored.map((a) => [a.name, a.state])).toEqual([
        [`alerts/${events[0]?.id}`, AlertState.RESOLVED],
      ]);
    } finally {
      unsubscribe?.();
      await downServer.shutdown(1_000);
      await downOrm.close(true);
      await proxy.down();
    }
  });

  it("WatchAlerts sends firing alerts first with include_firing, and ends cleanly on shutdown", async () => {
    const r = await enabledRule({
      displayName: "still firing",
      condition: AlertCondition.ERROR_RATE,
      threshold: 0,
    });
    errorRpcs(0, 1);
    await tick();
    const stream = await watch(`alert_rule = "${r.name}" AND state = FIRING`, true);
    const first = await stream.next();
    if (first.message.case !== "alert") throw new Error("expected an alert");
    expect(first.message.value.alertRule).toBe(r.name);
    expect(first.message.value.state).toBe(AlertState.FIRING);
    // Shutdown ends the stream without error and without forcing.
    const end = stream.pendingNext();
    const result = await server?.shutdown(5_000);
    server = undefined;
    expect(result?.forced).toBe(false);
    expect((await end).done).toBe(true);
  });
});
