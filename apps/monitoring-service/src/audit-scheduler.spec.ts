/**
 * The audit scheduler against real PostgreSQL with real timers (short intervals; outcomes are awaited by
 * polling, never by wall-clock assertions). Sealing runs as the application login user (least privilege);
 * retention as the database owner. Tests that touch partitions get their own database.
 */
import { randomUUID } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { ConfigError, loadConfig } from "@taskmaster/config/config";
import { DATA_RETENTION_DEFAULTS } from "@taskmaster/config/data-retention-config";
import { clientRunner } from "@taskmaster/persistence/bounded-read";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { createLogger, type Logger } from "@taskmaster/telemetry/logger";
import { createProcessMetrics, type ProcessMetrics } from "@taskmaster/telemetry/metrics";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditScheduleConfigFromEnv } from "./audit-scheduler.config.js";
import {
  type AuditJobOutcome,
  AuditScheduler,
  type AuditSchedulerOptions,
  type AuditSql,
} from "./audit-scheduler.js";
import { auditSchedulerMember, createServiceAuditScheduler, ormSql } from "./audit-scheduler.wiring.js";
import { waitFor } from "./monitoring.test-util.js";
import { createServer } from "./server.js";

/** Everything one test needs on its own database: app-role ORM (seal), owner ORM (retention), owner SQL. */
interface Fixture {
  db: TestDatabase;
  app: MikroORM;
  owner: MikroORM;
  sql: pg.Client;
  close(): Promise<void>;
}

const open: Fixture[] = [];

async function fixture(): Promise<Fixture> {
  const db = await createTestDatabase();
  const app = (await initOrm({ url: db.appUrl, pool: { min: 0, max: 3 } })) as MikroORM;
  const owner = (await initOrm({ url: db.url, pool: { min: 0, max: 3 } })) as MikroORM;
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  const f: Fixture = {
    db,
    app,
    owner,
    sql,
    async close() {
      await sql.end().catch(() => undefined);
      await app.close(true);
      await owner.close(true);
      await db.drop();
    },
  };
  open.push(f);
  return f;
}

afterAll(async () => {
  for (const f of open) await f.close();
});

/** A logger whose JSON lines are kept in memory. */
function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    service: "audit-scheduler-test",
    level: "debug",
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { logger, lines };
}

async function counter(metric: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await metric.get()).values.reduce((sum, v) => sum + v.value, 0);
}

async function insertAudit(sql: pg.Client, count: number, at = "now()"): Promise<void> {
  await sql.query(
    `insert into audit_log (id, entity_type, entity_id, action, occurred_at)
     select gen_random_uuid(), 'sched_test', $1 || g, 'update', ${at} from generate_series(1, $2::int) g`,
    [randomUUID(), count],
  );
}

async function unsealed(sql: pg.Client): Promise<number> {
  return (await sql.query("select count(*)::int as n from audit_log where prev_hash is null")).rows[0]?.n;
}

/** `audit_log_pYYYYMM` of a date `days` ago. */
function partitionOf(daysAgo: number): string {
  const d = new Date(Date.now() - daysAgo * 86_400_000);
  return `audit_log_p${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
}

/** AuditSql on one pg client (statements compiled with the fixture's ORM). */
function pgSql(f: Fixture, client: pg.Client): AuditSql {
  return clientRunner(f.owner.em, client);
}

function scheduler(
  f: Fixture,
  options: Partial<AuditSchedulerOptions> & { metrics: ProcessMetrics },
): AuditScheduler {
  return new AuditScheduler({
    logger: createLogger({ service: "audit-scheduler-test", level: "silent" }),
    sealDb: ormSql(f.app),
    retentionDb: ormSql(f.owner),
    sealIntervalMs: 0,
    retentionIntervalMs: 0,
    retentionDays: 90,
    ...options,
  });
}

describe("audit scheduler", () => {
  let shared: Fixture;
  beforeAll(async () => {
    shared = await fixture();
  });

  it("seals unsealed rows on its schedule (as the application role), logs and counts them", async () => {
    const f = shared;
    const metrics = createProcessMetrics({ defaultMetrics: false });
    const { logger, lines } = captureLogger();
    const s = scheduler(f, { logger, metrics, sealIntervalMs: 25, retentionDb: undefined });
    s.start();
    try {
      await insertAudit(f.sql, 40);
      await waitFor(async () => (await unsealed(f.sql)) === 0);
      await insertAudit(f.sql, 7);
      await waitFor(async () => (await unsealed(f.sql)) === 0);
    } finally {
      await s.stop();
    }
    expect(await counter(metrics.auditRowsSealed)).toBeGreaterThanOrEqual(47);
    const logged = lines.filter((l) => l.job === "audit_seal" && Number(l.sealed) > 0);
    expect(logged.reduce((sum, l) => sum + Number(l.sealed), 0)).toBe(await counter(metrics.auditRowsSealed));
    expect((await f.sql.query("select * from audit_verify(5)")).rows).toEqual([]);
    expect(await counter(metrics.auditJobFailures)).toBe(0);
  });

  it("drops an expired partition on its schedule (as taskmaster_retention) and reports what it removed", async () => {
    const f = await fixture();
    const metrics = createProcessMetrics({ defaultMetrics: false });
    const { logger, lines } = captureLogger();
    const old = partitionOf(200);
    // Rows the migrations wrote (the default alert rules are audited inserts) are recent and stay.
    const kept = Number((await f.sql.query("select count(*)::int as n from audit_log")).rows[0]?.n);
    // Expired rows (200 days old) sit in the default partition until ensure-partitions gives them their month.
    await insertAudit(f.sql, 3, "now() - interval '200 days'");
    await insertAudit(f.sql, 2);
    const outcomes: AuditJobOutcome[] = [];
    // Retention as the taskmaster_retention group role itself (the session's role set at connect).
    const retention = new pg.Client({ connectionString: f.db.url, options: "-c role=taskmaster_retention" });
    await retention.connect();
    expect((await retention.query("select current_user as u")).rows[0]?.u).toBe("taskmaster_retention");
    const s = scheduler(f, {
      logger,
      metrics,
      retentionIntervalMs: 50,
      retentionDb: pgSql(f, retention),
      onRun: (o) => outcomes.push(o),
    });
    s.start();
    try {
      await waitFor(async () => outcomes.length >= 2);
    } finally {
      await s.stop();
      await retention.end();
    }
    const runs = outcomes.filter((o) => o.job === "retention");
    expect(runs[0]).toMatchObject({
      retentionDays: 90,
      dropped: [{ partition: old, rows: 3 }],
      removedRows: 3,
    });
    expect(runs[0]?.job === "retention" && runs[0].createdPartitions).toContain(old);
    // Later runs find nothing expired.
    expect(runs.slice(1).every((o) => o.job === "retention" && o.dropped.length === 0)).toBe(true);
    expect((await f.sql.query("select to_regclass($1) as r", [old])).rows[0]?.r).toBeNull();
    expect((await f.sql.query("select count(*)::int as n from audit_log")).rows[0]?.n).toBe(kept + 2);
    // Upcoming months are ready.
    expect((await f.sql.query("select to_regclass($1) as r", [partitionOf(-31)])).rows[0]?.r).not.toBeNull();
    const report = lines.find(
      (l) => l.job === "audit_retention" && Array.isArray(l.dropped) && l.dropped.length,
    );
    expect(report).toMatchObject({ dropped: [`${old}:3`], removedRows: 3, retentionDays: 90, level: "info" });
    expect(await counter(metrics.auditPartitionsDropped)).toBe(1);
    expect(await counter(metrics.auditRowsRemoved)).toBe(3);
  });

  it("two schedulers at once: every row sealed once, the expired partition dropped once, chain intact", async () => {
    const f = await fixture();
    const old = partitionOf(200);
    await insertAudit(f.sql, 5, "now() - interval '200 days'");
    const chainRows = async (): Promise<number> =>
      Number((await f.sql.query("select sealed_rows from audit_chain_state")).rows[0]?.sealed_rows);
    // Rows already sealed or waiting; every row is sealed exactly once, so the chain grows by this much.
    const expected = (await chainRows()) + (await unsealed(f.sql));
    const second = (await initOrm({ url: f.db.appUrl, pool: { min: 0, max: 2 } })) as MikroORM;
    const secondOwner = (await initOrm({ url: f.db.url, pool: { min: 0, max: 2 } })) as MikroORM;
    const outcomes: AuditJobOutcome[] = [];
    const metrics = [1, 2].map(() => createProcessMetrics({ defaultMetrics: false }));
    const options = {
      sealIntervalMs: 10,
      retentionIntervalMs: 15,
      onRun: (o: AuditJobOutcome) => outcomes.push(o),
    };
    const a = scheduler(f, {
      ...options,
      logger: createLogger({ service: "audit-scheduler-test", level: "error" }),
      metrics: metrics[0] as ProcessMetrics,
    });
    const b = new AuditScheduler({
      logger: createLogger({ service: "audit-scheduler-test", level: "error" }),
      sealDb: ormSql(second),
      retentionDb: ormSql(secondOwner),
      retentionDays: 90,
      ...options,
      metrics: metrics[1] as ProcessMetrics,
    });
    a.start();
    b.start();
    let inserted = 0;
    try {
      // Writers keep adding rows while both schedulers run.
      for (let i = 0; i < 20; i++) {
        await insertAudit(f.sql, 10);
        inserted += 10;
      }
      await waitFor(async () => (await unsealed(f.sql)) === 0);
      await waitFor(async () => outcomes.filter((o) => o.job === "retention").length >= 4);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await second.close(true);
      await secondOwner.close(true);
    }
    const dropped = outcomes.flatMap((o) => (o.job === "retention" ? o.dropped : []));
    expect(dropped).toEqual([{ partition: old, rows: 5 }]);
    // Retention seals first too (inside audit_drop_expired), so the seal jobs saw at most every row.
    const sealed = outcomes.reduce((sum, o) => sum + (o.job === "seal" ? o.sealed : 0), 0);
    expect(sealed).toBeLessThanOrEqual(expected + inserted);
    expect(await chainRows()).toBe(expected + inserted);
    expect((await f.sql.query("select * from audit_verify(5)")).rows).toEqual([]);
    for (const m of metrics) expect(await counter(m.auditJobFailures)).toBe(0);
  });

  it("stop() waits for the run in flight, and no tick runs after stop", async () => {
    const f = shared;
    const metrics = createProcessMetrics({ defaultMetrics: false });
    const outcomes: AuditJobOutcome[] = [];
    const blocker = new pg.Client({ connectionString: f.db.url });
    await blocker.connect();
    try {
      // Hold the seal lock: the scheduler's audit_seal waits on it inside PostgreSQL.
      await blocker.query("begin");
      await blocker.query("select pg_advisory_xact_lock(31324, 8001)");
      await insertAudit(f.sql, 4);
      const s = scheduler(f, { metrics, sealIntervalMs: 20, onRun: (o) => outcomes.push(o) });
      s.start();
      await waitFor(async () => {
        const r = await f.sql.query(
          `select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock' and wait_event = 'advisory'`,
        );
        return r.rows[0]?.n === 1;
      });
      let stopped = false;
      const stopping = s.stop().then(() => {
        stopped = true;
      });
      expect(s.pendingTicks).toBe(0);
      // A database round trip later the run is still blocked, so stop() has not resolved.
      await f.sql.query("select 1");
      expect(stopped).toBe(false);
      await blocker.query("commit");
      await stopping;
      expect(outcomes).toEqual([{ job: "seal", sealed: 4 }]);
      expect(await unsealed(f.sql)).toBe(0);
      // After stop: new rows stay unsealed through many would-be intervals; start() does not revive it.
      s.start();
      await insertAudit(f.sql, 2);
      await new Promise((r) => setTimeout(r, 200));
      expect(await unsealed(f.sql)).toBe(2);
      expect(outcomes).toHaveLength(1);
      expect(s.pendingTicks).toBe(0);
    } finally {
      await blocker.query("rollback").catch(() => undefined);
      await blocker.end();
      await f.sql.query("select audit_seal()");
    }
  });

  it("disabled intervals (0) or a missing connection do nothing", async () => {
    const f = shared;
    const metrics = createProcessMetrics({ defaultMetrics: false });
    const outcomes: AuditJobOutcome[] = [];
    const off = scheduler(f, { metrics, onRun: (o) => outcomes.push(o) });
    const noDb = scheduler(f, {
      metrics,
      sealIntervalMs: 10,
      retentionIntervalMs: 10,
      sealDb: undefined,
      retentionDb: undefined,
      onRun: (o) => outcomes.push(o),
    });
    expect(off.enabled).toEqual({ seal: false, retention: false });
    expect(noDb.enabled).toEqual({ seal: false, retention: false });
    off.start();
    noDb.start();
    expect(off.pendingTicks + noDb.pendingTicks).toBe(0);
    await insertAudit(f.sql, 3);
    await new Promise((r) => setTimeout(r, 150));
    expect(await unsealed(f.sql)).toBe(3);
    expect(outcomes).toEqual([]);
    await Promise.all([off.stop(), noDb.stop()]);
    await f.sql.query("select audit_seal()");
  });

  it("a failing run is logged and counted, and the next tick still runs", async () => {
    const f = shared;
    const metrics = createProcessMetrics({ defaultMetrics: false });
    const { logger, lines } = captureLogger();
    // The application role may not run retention: every retention run fails with permission denied.
    const s = scheduler(f, { logger, metrics, retentionIntervalMs: 10, retentionDb: ormSql(f.app) });
    s.start();
    try {
      await waitFor(async () => (await counter(metrics.auditJobFailures)) >= 3);
    } finally {
      await s.stop();
    }
    const failure = lines.find((l) => l.job === "audit_retention" && l.level === "error");
    expect(failure?.msg).toBe("scheduled audit retention failed");
    expect(JSON.stringify(failure)).toMatch(/permission denied/);
  });
});

describe("audit scheduler in the monitoring service", () => {
  it("starts once the server listens and stops before it drains", async () => {
    const f = await fixture();
    const { logger, lines } = captureLogger();
    // Production without AUDIT_RETENTION_DATABASE_URL: sealing runs, retention is off with a warning.
    const schedule = auditScheduleConfigFromEnv({ AUDIT_SEAL_INTERVAL_MS: "20" }, "production");
    const audit = createServiceAuditScheduler({
      orm: f.app,
      logger,
      config: loadConfig(
        undefined,
        { TASKMASTER_PROFILE: "test", DATABASE_URL: f.db.appUrl },
        {
          service: "monitoring-service",
        },
      ),
      schedule,
      metrics: createProcessMetrics({ defaultMetrics: false }),
    });
    const server = createServer({
      orm: f.app,
      logger,
      monitoring: {
        serviceAddresses: {},
        healthIntervalMs: 60_000,
        alerting: { manual: true },
        jobs: [auditSchedulerMember(audit)],
      },
    });
    await insertAudit(f.sql, 5);
    expect(audit.scheduler.pendingTicks).toBe(0);
    try {
      await server.listen("127.0.0.1", 0);
      await waitFor(async () => (await unsealed(f.sql)) === 0);
    } finally {
      await server.shutdown(1_000);
    }
    expect(audit.scheduler.pendingTicks).toBe(0);
    expect(lines.find((l) => l.msg === "audit scheduler")).toMatchObject({
      sealIntervalMs: 20,
      retentionIntervalMs: 0,
      retentionConnection: "none",
    });
    expect(lines.find((l) => l.level === "warn")?.msg).toMatch(
      /retention is off: AUDIT_RETENTION_DATABASE_URL/,
    );
    expect(lines.some((l) => l.job === "audit_retention")).toBe(false);
  });
});

describe("audit scheduler with AUDIT_RETENTION_DATABASE_URL", () => {
  it("opens its own retention connection on first use, drops the expired partition, closes it on stop", async () => {
    const f = await fixture();
    await insertAudit(f.sql, 2, "now() - interval '200 days'");
    const schedule = auditScheduleConfigFromEnv(
      {
        AUDIT_SEAL_INTERVAL_MS: "0",
        AUDIT_RETENTION_INTERVAL_MS: "60000",
        AUDIT_RETENTION_DATABASE_URL: f.db.url,
      },
      "production",
    );
    const outcomes: AuditJobOutcome[] = [];
    const audit = createServiceAuditScheduler({
      orm: f.app,
      logger: createLogger({ service: "audit-scheduler-test", level: "silent" }),
      config: loadConfig(
        undefined,
        { TASKMASTER_PROFILE: "test", DATABASE_URL: f.db.appUrl },
        {
          service: "monitoring-service",
        },
      ),
      schedule,
      metrics: createProcessMetrics({ defaultMetrics: false }),
      onRun: (o) => outcomes.push(o),
    });
    const retentionConnections = async (): Promise<number> =>
      (
        await f.sql.query(
          `select count(*)::int as n from pg_stat_activity
            where datname = current_database() and application_name = 'monitoring-service-audit-retention'`,
        )
      ).rows[0]?.n;
    expect(await retentionConnections()).toBe(0);
    audit.start();
    try {
      await waitFor(async () => outcomes.length > 0);
      expect(outcomes[0]).toMatchObject({
        job: "retention",
        dropped: [{ partition: partitionOf(200), rows: 2 }],
      });
      expect(await retentionConnections()).toBe(1);
    } finally {
      await audit.stop();
    }
    await waitFor(async () => (await retentionConnections()) === 0);
  });
});

describe("auditScheduleConfigFromEnv", () => {
  it("defaults: seal every 10 s, retention hourly with 90 days on the service connection (development)", () => {
    expect(auditScheduleConfigFromEnv({}, "development")).toEqual({
      sealIntervalMs: 10_000,
      retentionIntervalMs: 3_600_000,
      retentionDays: 90,
      dataRetention: DATA_RETENTION_DEFAULTS,
      retentionDatabase: "service",
    });
  });

  it("0 disables a job; AUDIT_RETENTION_DATABASE_URL gives retention its own connection", () => {
    expect(
      auditScheduleConfigFromEnv(
        {
          AUDIT_SEAL_INTERVAL_MS: "0",
          AUDIT_RETENTION_INTERVAL_MS: "0",
          AUDIT_RETENTION_DAYS: "30",
          AUDIT_RETENTION_DATABASE_URL: "postgres://retention:pw@db:5432/tm",
        },
        "production",
      ),
    ).toMatchObject({
      sealIntervalMs: 0,
      retentionIntervalMs: 0,
      retentionDays: 30,
      retentionDatabase: { url: "postgres://retention:pw@db:5432/tm" },
    });
  });

  it("staging/production without a retention URL: retention off with a warning, sealing on", () => {
    const c = auditScheduleConfigFromEnv({}, "staging");
    expect(c.retentionDatabase).toBe("none");
    expect(c.sealIntervalMs).toBe(10_000);
    expect(c.retentionWarning).toMatch(/AUDIT_RETENTION_DATABASE_URL/);
  });

  it("rejects malformed values, naming every variable at once", () => {
    let error: unknown;
    try {
      auditScheduleConfigFromEnv(
        {
          AUDIT_SEAL_INTERVAL_MS: "-5",
          AUDIT_RETENTION_INTERVAL_MS: "hourly",
          AUDIT_RETENTION_DAYS: "0",
          AUDIT_RETENTION_DATABASE_URL: "mysql://x@y/z",
        },
        "development",
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    for (const v of [
      "AUDIT_SEAL_INTERVAL_MS",
      "AUDIT_RETENTION_INTERVAL_MS",
      "AUDIT_RETENTION_DAYS",
      "AUDIT_RETENTION_DATABASE_URL",
    ]) {
      expect(message).toContain(v);
    }
    expect(message.split("\n")).toHaveLength(1);
    expect(message).not.toContain("mysql://x@y/z");
  });
});
