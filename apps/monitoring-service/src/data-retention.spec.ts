/**
 * Data retention on the audit retention job: expired outbox events, idempotency keys, security events and
 * soft-deleted tasks are removed and counted; rows inside their retention stay; the task purge leaves its
 * audit row. Real PostgreSQL, run as a login in taskmaster_retention (the role the job uses in production).
 */
import { randomUUID } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { ConfigError } from "@taskmaster/config/config";
import {
  DATA_RETENTION_DEFAULTS,
  dataRetentionConfigFromEnv,
} from "@taskmaster/config/data-retention-config";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createProcessMetrics } from "@taskmaster/telemetry/metrics";
import { createTestDatabase, type TestDatabase, withUser } from "@taskmaster/testing/test-database";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditScheduler } from "./audit-scheduler.js";
import { ormSql } from "./audit-scheduler.wiring.js";

let db: TestDatabase;
let sql: pg.Client;
let retention: MikroORM;

beforeAll(async () => {
  db = await createTestDatabase();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  const user = `tm_retention_${randomUUID().slice(0, 8)}`;
  await sql.query(`create role ${user} login password 'retention' in role taskmaster_retention`);
  retention = (await initOrm({
    url: withUser(db.url, user, "retention"),
    pool: { min: 0, max: 1 },
  })) as MikroORM;
});

afterAll(async () => {
  await retention?.close(true);
  await sql?.end();
  await db?.drop();
});

describe("data retention", () => {
  it("reads its settings with defaults, 0 = keep forever, and names bad values", () => {
    expect(dataRetentionConfigFromEnv({})).toEqual(DATA_RETENTION_DEFAULTS);
    expect(dataRetentionConfigFromEnv({ OUTBOX_RETENTION_DAYS: "0" }).outboxDays).toBe(0);
    expect(() => dataRetentionConfigFromEnv({ SECURITY_EVENT_RETENTION_DAYS: "-1" })).toThrow(ConfigError);
  });

  it("removes what is past its retention, counts it, keeps the rest, and audits purged tasks", async () => {
    const old = "now() - interval '400 days'";
    const agg = randomUUID();
    const events = await sql.query<{ id: string }>(
      `insert into outbox_events (aggregate_type, aggregate_id, event_kind, created_at) values
         ('task', $1, 'task.created', ${old}), ('task', $1, 'task.updated', ${old}), ('task', $1, 'task.updated', now())
       returning id::text`,
      [agg],
    );
    await sql.query(
      `insert into idempotency_keys (id, scope, request_id, created_at, expires_at) values
         ($1, 's', 'old', ${old}, ${old}), ($2, 's', 'live', ${old}, now() + interval '1 day'), ($3, 's', 'new', now(), null)`,
      [randomUUID(), randomUUID(), randomUUID()],
    );
    await sql.query(
      `insert into security_events (id, kind, occurred_at) values ($1, 'permission_denied', ${old}), ($2, 'permission_denied', now())`,
      [randomUUID(), randomUUID()],
    );
    const gone = randomUUID();
    const recent = randomUUID();
    await sql.query(
      `insert into tasks (id, title, deleted_at) values ($1, 'deleted long ago', ${old}), ($2, 'deleted today', now()), ($3, 'still live', null)`,
      [gone, recent, randomUUID()],
    );

    const scheduler = new AuditScheduler({
      logger: createLogger({ service: "retention-test", level: "error" }),
      sealDb: undefined,
      retentionDb: ormSql(retention),
      sealIntervalMs: 0,
      retentionIntervalMs: 0,
      retentionDays: 90,
      dataRetention: DATA_RETENTION_DEFAULTS,
      metrics: createProcessMetrics(),
    });
    const outcome = await scheduler.retentionNow();
    expect(Object.fromEntries(outcome.purged.map((p) => [p.kind, p.rows]))).toEqual({
      outbox_events: 2,
      idempotency_keys: 1,
      security_events: 1,
      template_usage_logs: 0,
      deleted_tasks: 1,
    });
    const count = async (q: string, params: unknown[] = []) =>
      Number((await sql.query(q, params)).rows[0]?.n);
    expect(await count("select count(*) as n from outbox_events where aggregate_id = $1", [agg])).toBe(1);
    // WatchTasks refuses resume tokens below the last pruned event (recorded by the delete trigger).
    expect((await sql.query("select through_id::text as id from outbox_pruned")).rows).toEqual([
      { id: events.rows[1]?.id },
    ]);
    expect(await count("select count(*) as n from idempotency_keys")).toBe(2);
    expect(await count("select count(*) as n from security_events")).toBe(1);
    expect(await count("select count(*) as n from tasks where id = any($1)", [[gone, recent]])).toBe(1);
    expect(
      await count("select count(*) as n from audit_log where entity_id = $1::text and action = 'purge'", [
        gone,
      ]),
    ).toBe(1);
    // A second run finds nothing more.
    const again = await scheduler.retentionNow();
    expect(again.purged.every((p) => p.rows === 0)).toBe(true);
  });
});
