/**
 * Every mutating RPC of the services the monitoring process serves (MonitoringService and AuditService; from
 * the descriptors: every method whose idempotency level is not NO_SIDE_EFFECTS, so a new RPC cannot be
 * forgotten) writes the expected audit rows with the context of the call — actor, request id, trace id,
 * client IP, user agent — or, where it changes no audited entity, none. A failed call leaves no audit row.
 * Real grpc-js server as the application role + PostgreSQL with the audit triggers.
 */
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { type Client, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { AuditService } from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_service_pb";
import { AlertCondition, type AlertRule } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/alert_pb";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import * as auditTrail from "@taskmaster/testing/audit-trail";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "./server.js";

let db: TestDatabase;
let orm: MikroORM;
let server: GrpcServer;
let monitoring: Client<typeof MonitoringService>;
let audit: Client<typeof AuditService>;
let sql: pg.Client;

const TRACE_ID = auditTrail.AUDIT_TRACE_ID;
type CallContext = auditTrail.AuditCallContext;

const headers = (ctx: CallContext) => auditTrail.auditHeaders(ctx, { "x-taskmaster-roles": "admin" });

const setup = () => headers({ actor: "setup", requestId: `setup-${randomUUID()}` });

async function newRule(): Promise<AlertRule> {
  const res = await monitoring.createAlertRule(
    { alertRule: { displayName: "audited rule", condition: AlertCondition.ERROR_RATE, threshold: 0.5 } },
    setup(),
  );
  return res.alertRule as AlertRule;
}

type Expected = readonly (readonly [entityType: string, action: string])[];

/** One scenario per mutating RPC, by `Service.localName`. */
const scenarios: Record<string, { run: (ctx: CallContext) => Promise<unknown>; expected: Expected }> = {
  "MonitoringService.createAlertRule": {
    run: (c) =>
      monitoring.createAlertRule(
        { alertRule: { displayName: "created", condition: AlertCondition.POOL_SATURATION, threshold: 0.9 } },
        headers(c),
      ),
    expected: [["alert_rule", "create"]],
  },
  "MonitoringService.updateAlertRule": {
    run: async (c) => {
      const r = await newRule();
      return monitoring.updateAlertRule(
        {
          alertRule: { name: r.name, etag: r.etag, displayName: "renamed" },
          updateMask: create(FieldMaskSchema, { paths: ["display_name"] }),
        },
        headers(c),
      );
    },
    expected: [["alert_rule", "update"]],
  },
  "MonitoringService.deleteAlertRule": {
    run: async (c) => monitoring.deleteAlertRule({ name: (await newRule()).name }, headers(c)),
    expected: [["alert_rule", "delete"]],
  },
  // Removes expired audit partitions: the audit history's own retention, not a change of an audited entity.
  "AuditService.runAuditRetention": {
    run: (c) => audit.runAuditRetention({ dryRun: true }, headers(c)),
    expected: [],
  },
};

const rowsOf = (actor: string) => auditTrail.auditRowsOf(sql, actor);

const mutating = [MonitoringService, AuditService].flatMap((service) =>
  auditTrail.mutatingMethods(service).map((m) => ({ key: `${service.name}.${m.localName}`, method: m })),
);

beforeAll(async () => {
  db = await createTestDatabase();
  orm = (await initOrm({ url: db.monitorUrl, pool: { min: 0, max: 4 } })) as MikroORM;
  server = createServer({
    orm,
    logger: createLogger({ service: "audit-test", level: "silent" }),
    monitoring: { serviceAddresses: {}, healthIntervalMs: 60_000, alerting: { manual: true } },
  });
  const { port } = await server.listen("127.0.0.1", 0);
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` });
  monitoring = createClient(MonitoringService, transport);
  audit = createClient(AuditService, transport);
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
});

afterAll(async () => {
  await sql?.end();
  await server?.shutdown(1_000);
  await orm?.close(true);
  await db?.drop();
});

describe("audit trail of MonitoringService and AuditService", () => {
  it("has a scenario for every mutating RPC of the contract, and none for a read", () => {
    expect(mutating.map((m) => m.key).sort()).toEqual(Object.keys(scenarios).sort());
  });

  for (const { key, method } of mutating) {
    it(`${method.parent.name}.${method.name} writes the expected audit rows with the caller's context`, async () => {
      const { rows, ctx, expected } = await auditTrail.runAuditScenario(sql, scenarios, key);
      expect(rows.map((r) => [r.entity_type, r.action])).toEqual(expected.map((e) => [...e]));
      auditTrail.expectCallContext(rows, ctx);
    });
  }

  it("a failed call leaves no audit row (the whole transaction rolls back)", async () => {
    const r = await newRule();
    const ctx = { actor: "auditor.failed@example.com", requestId: `req-${randomUUID()}` };
    const stale = await monitoring
      .updateAlertRule(
        {
          alertRule: { name: r.name, etag: 'W/"999"', displayName: "stale" },
          updateMask: create(FieldMaskSchema, { paths: ["display_name"] }),
        },
        headers(ctx),
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(stale).toBeInstanceOf(ConnectError);
    const deleted = await monitoring.deleteAlertRule({ name: r.name, etag: 'W/"999"' }, headers(ctx)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(deleted).toBeInstanceOf(ConnectError);
    expect(await rowsOf(ctx.actor)).toEqual([]);
  });

  it("the chain over all of it verifies", async () => {
    await sql.query("select audit_seal()");
    expect((await sql.query("select * from audit_verify(5)")).rows).toEqual([]);
  });

  it("ListAuditEvents returns the sealed rows with the caller's trace id and their chain links", async () => {
    const ctx = { actor: "auditor.sealed@example.com", requestId: `req-${randomUUID()}` };
    await monitoring.createAlertRule(
      { alertRule: { displayName: "sealed", condition: AlertCondition.ERROR_RATE, threshold: 0.4 } },
      headers(ctx),
    );
    await sql.query("select audit_seal()");
    const { auditEvents } = await audit.listAuditEvents(
      { filter: `actor.subject = "${ctx.actor}" AND request_id = "${ctx.requestId}"` },
      headers({ actor: "reader@example.com", requestId: `req-${randomUUID()}` }),
    );
    expect(auditEvents).toHaveLength(1);
    const [event] = auditEvents;
    expect(event?.traceId).toBe(TRACE_ID);
    expect(event?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(event?.previousHash).toMatch(/^[0-9a-f]{64}$/);
    expect(event?.previousHash).not.toBe(event?.hash);
  });
});
