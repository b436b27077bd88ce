/**
 * AuditService end to end: real grpc-js server (createServer) on a real socket over a real migrated
 * PostgreSQL. Audit rows are inserted directly (the trigger mechanism is another slice); security events go
 * through the real recorder. Each test uses its own entity type / subjects so tests do not see each other.
 */
import { randomUUID } from "node:crypto";
import { create, fromJsonString } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Client, createClient, createHandlerContext, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { recordSecurityEvent } from "@taskmaster/persistence/security-events.repository";
import {
  AuditAction,
  AuditEventSchema,
  SecurityEventKind,
} from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_pb";
import {
  AuditService,
  ExportAuditEventsRequestSchema,
} from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_service_pb";
import { ActorType } from "@taskmaster/proto/gen/taskmaster/common/v1/actor_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createProcessMetrics } from "@taskmaster/telemetry/metrics";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditHandlers } from "./audit.handlers.js";
import { AuditScheduler } from "./audit-scheduler.js";
import { ormSql } from "./audit-scheduler.wiring.js";
import { Code, expectClean, reasonOf, rpcError, violationFields } from "./monitoring.test-util.js";
import { createServer } from "./server.js";

const logger = createLogger({ service: "audit-test", level: "silent" });

let db: TestDatabase;
let orm: MikroORM;
let server: GrpcServer | undefined;
let sql: pg.Client;
let admin: Client<typeof AuditService>;
let port = 0;

function clientAs(
  actor: string | null,
  roles: string | null,
  serverPort: number = port,
): Client<typeof AuditService> {
  const headers: Interceptor = (next) => (req) => {
    if (actor !== null) req.header.set("x-taskmaster-actor", actor);
    if (roles !== null) req.header.set("x-taskmaster-roles", roles);
    return next(req);
  };
  return createClient(
    AuditService,
    createGrpcTransport({ baseUrl: `http://127.0.0.1:${serverPort}`, interceptors: [headers] }),
  );
}

interface AuditInsert {
  entityType: string;
  entityId?: string;
  action?: string;
  actor?: string | null;
  at: Date;
  changed?: string[];
  oldValues?: Record<string, unknown> | null;
  newValues?: Record<string, unknown> | null;
  requestId?: string;
  traceId?: string;
}

async function insertAudit(row: AuditInsert): Promise<string> {
  const id = randomUUID();
  await sql.query(
    `insert into audit_log (id, entity_type, entity_id, action, changed_fields, old_values, new_values, actor,
                            request_id, trace_id, client_ip, user_agent, occurred_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [
      id,
      row.entityType,
      row.entityId ?? randomUUID(),
      row.action ?? "update",
      row.changed ?? [],
      row.oldValues === undefined ? null : JSON.stringify(row.oldValues),
      row.newValues === undefined ? null : JSON.stringify(row.newValues),
      row.actor === undefined ? "alice@example.com" : row.actor,
      row.requestId ?? null,
      row.traceId ?? null,
      "203.0.113.7",
      "curl/8.0",
      row.at,
    ],
  );
  return id;
}

/** A fresh entity type per test (isolation without truncating). */
const freshType = () => `t_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
/** Times inside the current month (partitions for it exist when the table is partitioned). */
const base = Date.now() - 60 * 60_000;
const at = (minutes: number) => new Date(base + minutes * 60_000);

beforeAll(async () => {
  db = await createTestDatabase();
  orm = (await initOrm({ url: db.appUrl, pool: { min: 0, max: 6 } })) as MikroORM;
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  server = createServer({
    orm,
    logger,
    monitoring: {
      serviceAddresses: {},
      healthIntervalMs: 60_000,
      dbTimeoutMs: 5_000,
      alerting: { manual: true },
    },
  });
  port = (await server.listen("127.0.0.1", 0)).port;
  admin = clientAs("root@example.com", "reader, admin");
});

afterAll(async () => {
  await server?.shutdown(1_000);
  await sql?.end();
  await orm?.close(true);
  await db?.drop();
});

describe("admin only", () => {
  it("UNAUTHENTICATED without an actor, PERMISSION_DENIED without admin, each recorded", async () => {
    const anon = await rpcError(clientAs(null, "admin").listAuditEvents({}));
    expect(anon.code).toBe(Code.Unauthenticated);
    const subject = `bob-${randomUUID()}@example.com`;
    const writer = clientAs(subject, "reader,writer,administrator");
    const calls: (() => Promise<unknown>)[] = [
      () => writer.listAuditEvents({}),
      () => writer.getAuditEvent({ name: `auditEvents/${randomUUID()}` }),
      () => writer.listSecurityEvents({}),
      () => writer.getSecurityEvent({ name: `securityEvents/${randomUUID()}` }),
      () => writer.runAuditRetention({}),
      async () => {
        for await (const _ of writer.exportAuditEvents({
          timeRange: { startTime: timestampFromDate(at(0)) },
        })) {
          // nothing
        }
      },
    ];
    for (const call of calls) {
      const err = await rpcError(call());
      expect(err.code).toBe(Code.PermissionDenied);
      expect(reasonOf(err)).toBe("PERMISSION_DENIED");
    }
    const denied = await admin.listSecurityEvents({
      filter: `kind = PERMISSION_DENIED AND actor.subject = "${subject}"`,
      pageSize: 100,
    });
    expect(denied.securityEvents).toHaveLength(6);
    expect(new Set(denied.securityEvents.map((e) => e.rpcMethod))).toEqual(
      new Set(
        [
          "ListAuditEvents",
          "GetAuditEvent",
          "ListSecurityEvents",
          "GetSecurityEvent",
          "RunAuditRetention",
          "ExportAuditEvents",
        ].map((m) => `/taskmaster.audit.v1.AuditService/${m}`),
      ),
    );
    expect(denied.securityEvents[0]?.reason).toBe("audit_requires_admin");
    expect(denied.securityEvents[0]?.actor?.type).toBe(ActorType.USER);
  });

  it("records the refused call's trace id (W3C traceparent)", async () => {
    const subject = `dave-${randomUUID()}@example.com`;
    const traceId = randomUUID().replace(/-/g, "");
    const err = await rpcError(
      clientAs(subject, "reader").listSecurityEvents(
        {},
        { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } },
      ),
    );
    expect(err.code).toBe(Code.PermissionDenied);
    const denied = await admin.listSecurityEvents({ filter: `actor.subject = "${subject}"` });
    expect(denied.securityEvents.map((e) => e.traceId)).toEqual([traceId]);
  });
});

describe("ListAuditEvents / GetAuditEvent", () => {
  it("filters by entity type, entity, action, actor, request id, time range and event_time", async () => {
    const type = freshType();
    const entity = randomUUID();
    const a = await insertAudit({
      entityType: type,
      entityId: entity,
      action: "create",
      at: at(1),
      requestId: "r-1",
    });
    const b = await insertAudit({
      entityType: type,
      entityId: entity,
      action: "update",
      at: at(2),
      actor: "svc-x",
    });
    const c = await insertAudit({ entityType: type, action: "delete", at: at(3), actor: null });
    const names = async (filter: string, extra: Partial<{ timeRange: object }> = {}) =>
      (
        await admin.listAuditEvents({ filter: `entity_type = "${type}" AND ${filter}`, ...extra })
      ).auditEvents.map((e) => e.name.split("/")[1]);
    expect(await names(`entity = "${collectionName(type)}/${entity}"`)).toEqual([b, a]);
    expect(await names(`entity != "${collectionName(type)}/${entity}"`)).toEqual([c]);
    expect(await names("action = CREATE")).toEqual([a]);
    expect(await names("action != create")).toEqual([c, b]);
    expect(await names('actor.subject = "svc-x"')).toEqual([b]);
    expect(await names("actor.type = SYSTEM")).toEqual([c]);
    expect(await names("actor.type = USER")).toEqual([a]);
    expect(await names('request_id = "r-1"')).toEqual([a]);
    expect(await names(`event_time >= ${at(2).toISOString()}`)).toEqual([c, b]);
    expect(
      await names(`event_time > ${at(0).toISOString()}`, {
        timeRange: { startTime: timestampFromDate(at(2)), endTime: timestampFromDate(at(3)) },
      }),
    ).toEqual([b]);
    const ev = (await admin.listAuditEvents({ filter: `entity_type = "${type}" AND action = CREATE` }))
      .auditEvents[0];
    expect(ev?.entity).toBe(`${collectionName(type)}/${entity}`);
    expect(ev?.action).toBe(AuditAction.CREATE);
    expect(ev?.actor?.subject).toBe("alice@example.com");
    expect(ev?.clientIp).toBe("203.0.113.7");
    expect(ev?.userAgent).toBe("curl/8.0");
    expect(ev?.sequence).toBeGreaterThan(0n);
    const got = await admin.getAuditEvent({ name: `auditEvents/${a}` });
    expect(got.auditEvent).toEqual(ev);
  });

  it("pages with opaque tokens in both orders without gaps or duplicates", async () => {
    const type = freshType();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await insertAudit({ entityType: type, at: at(10 + (i % 3)) }));
    for (const orderBy of ["", "event_time", "sequence", "sequence desc"]) {
      const seen: string[] = [];
      let token = "";
      let pages = 0;
      do {
        const page = await admin.listAuditEvents({
          filter: `entity_type = "${type}"`,
          orderBy,
          pageSize: 3,
          pageToken: token,
        });
        seen.push(...page.auditEvents.map((e) => e.name.split("/")[1] as string));
        token = page.nextPageToken;
        pages++;
      } while (token !== "");
      expect(pages).toBe(3);
      expect([...seen].sort()).toEqual([...ids].sort());
      if (orderBy === "sequence") expect(seen).toEqual(ids);
      if (orderBy === "sequence desc") expect(seen).toEqual([...ids].reverse());
    }
    const first = await admin.listAuditEvents({ filter: `entity_type = "${type}"`, pageSize: 3 });
    const foreign = await rpcError(
      admin.listAuditEvents({
        filter: `entity_type = "${type}" AND action = UPDATE`,
        pageSize: 3,
        pageToken: first.nextPageToken,
      }),
    );
    expect(foreign.code).toBe(Code.InvalidArgument);
    expect(violationFields(foreign)).toEqual(["page_token"]);
    const garbage = await rpcError(admin.listAuditEvents({ pageToken: "'; drop table audit_log; --" }));
    expect(violationFields(garbage)).toEqual(["page_token"]);
  });

  it("masks secrets in changed values on the way out", async () => {
    const type = freshType();
    await insertAudit({
      entityType: type,
      at: at(20),
      changed: ["password", "notes", "metadata"],
      oldValues: {
        password: "hunter2",
        notes: "see postgres://app:s3cr3t@db/x",
        metadata: { api_key: "k-123456" },
      },
      newValues: {
        password: "correct horse",
        notes: "Bearer abcdef123456",
        metadata: { apiKey: "AKIAABCDEFGHIJKLMNOP" },
      },
    });
    const ev = (await admin.listAuditEvents({ filter: `entity_type = "${type}"` })).auditEvents[0];
    const text = JSON.stringify(ev?.changes.map((c) => [c.field, c.oldValue?.kind, c.newValue?.kind]));
    for (const secret of [
      "hunter2",
      "correct horse",
      "s3cr3t",
      "k-123456",
      "abcdef123456",
      "AKIAABCDEFGHIJKLMNOP",
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(ev?.changes.map((c) => c.field)).toEqual(["password", "notes", "metadata"]);
  });

  it("rejects bad input with INVALID_ARGUMENT naming the field", async () => {
    const cases: [() => Promise<unknown>, string][] = [
      [() => admin.listAuditEvents({ filter: "colour = red" }), "filter"],
      [() => admin.listAuditEvents({ filter: "action = EXPLODE" }), "filter"],
      [() => admin.listAuditEvents({ filter: 'entity > "tasks/x"' }), "filter"],
      [() => admin.listAuditEvents({ filter: "event_time > yesterday" }), "filter"],
      [() => admin.listAuditEvents({ orderBy: "actor" }), "order_by"],
      [() => admin.listAuditEvents({ pageSize: -1 }), "page_size"],
      [
        () =>
          admin.listAuditEvents({
            timeRange: { startTime: timestampFromDate(at(5)), endTime: timestampFromDate(at(4)) },
          }),
        "time_range.end_time",
      ],
      [() => admin.getAuditEvent({ name: "auditEvents/1 or 1=1" }), "name"],
      [() => admin.getAuditEvent({}), "name"],
      [() => admin.getSecurityEvent({ name: "tasks/abc" }), "name"],
    ];
    for (const [call, field] of cases) {
      const err = await rpcError(call());
      expect(err.code).toBe(Code.InvalidArgument);
      expect(violationFields(err)).toEqual([field]);
      expectClean(err);
    }
    const missing = await rpcError(admin.getAuditEvent({ name: `auditEvents/${randomUUID()}` }));
    expect(missing.code).toBe(Code.NotFound);
  });
});

describe("ExportAuditEvents", () => {
  it("streams JSON Lines in sequence order for the time range, chunked at line boundaries", async () => {
    const type = freshType();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await insertAudit({ entityType: type, at: at(30 + i) }));
    await insertAudit({ entityType: type, at: at(40) }); // outside the range
    const req = {
      timeRange: { startTime: timestampFromDate(at(30)), endTime: timestampFromDate(at(35)) },
      filter: `entity_type = "${type}"`,
    };
    const lines: string[] = [];
    let count = 0;
    for await (const chunk of admin.exportAuditEvents(req)) {
      const text = new TextDecoder().decode(chunk.data);
      expect(text.endsWith("\n")).toBe(true);
      const chunkLines = text.split("\n").slice(0, -1);
      expect(chunkLines).toHaveLength(chunk.eventCount);
      lines.push(...chunkLines);
      count += chunk.eventCount;
      const last = fromJsonString(AuditEventSchema, chunkLines.at(-1) as string);
      expect(last.sequence).toBe(chunk.lastSequence);
    }
    expect(count).toBe(5);
    const events = lines.map((l) => fromJsonString(AuditEventSchema, l));
    expect(events.map((e) => e.name.split("/")[1])).toEqual(ids);
    const seqs = events.map((e) => e.sequence);
    expect([...seqs].sort((x, y) => (x < y ? -1 : 1))).toEqual(seqs);

    // Tiny chunks: one event per chunk, still whole lines.
    const handlers = createAuditHandlers({ orm, logger, dbTimeoutMs: 5_000, exportChunkBytes: 1 });
    const ctx = createHandlerContext({
      service: AuditService,
      method: AuditService.method.exportAuditEvents,
      protocolName: "test",
      requestMethod: "POST",
      url: "http://localhost/",
      requestHeader: { "x-taskmaster-actor": "root@example.com", "x-taskmaster-roles": "admin" },
    });
    const chunks: number[] = [];
    for await (const c of handlers.exportAuditEvents(create(ExportAuditEventsRequestSchema, req), ctx)) {
      chunks.push(c.eventCount ?? 0);
    }
    expect(chunks).toEqual([1, 1, 1, 1, 1]);
  });

  it("requires a start time", async () => {
    const err = await rpcError(
      (async () => {
        for await (const _ of admin.exportAuditEvents({})) {
          // nothing
        }
      })(),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(violationFields(err)).toEqual(["time_range"]);
    const noStart = await rpcError(
      (async () => {
        for await (const _ of admin.exportAuditEvents({ timeRange: { endTime: timestampFromDate(at(1)) } })) {
          // nothing
        }
      })(),
    );
    expect(violationFields(noStart)).toEqual(["time_range.start_time"]);
  });
});

describe("security events", () => {
  it("records without secrets and lists/gets with filters and paging", async () => {
    const subject = `carol-${randomUUID()}@example.com`;
    const ids: string[] = [];
    for (const reason of ["jwt_expired", "unknown_kid", "sql_metachar_in_id"]) {
      ids.push(
        await recordSecurityEvent(orm.em.fork(), {
          kind: reason === "sql_metachar_in_id" ? "suspicious_input" : "authentication_failed",
          reason,
          identity: subject,
          ip: "198.51.100.4",
          rpcMethod: "/taskmaster.task.v1.TaskService/GetTask",
          userAgent: "agent Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
          requestId: "req-1",
          details: { field: "name", length: 100000, token: "tok_SECRET_VALUE", note: "password=hunter2" },
        }),
      );
    }
    const page1 = await admin.listSecurityEvents({ filter: `actor.subject = "${subject}"`, pageSize: 2 });
    expect(page1.securityEvents).toHaveLength(2);
    const page2 = await admin.listSecurityEvents({
      filter: `actor.subject = "${subject}"`,
      pageSize: 2,
      pageToken: page1.nextPageToken,
    });
    expect(page2.nextPageToken).toBe("");
    const all = [...page1.securityEvents, ...page2.securityEvents];
    expect(all.map((e) => e.name.split("/")[1]).sort()).toEqual([...ids].sort());
    const text = JSON.stringify(all, (_, v) => (typeof v === "bigint" ? v.toString() : v));
    for (const secret of ["tok_SECRET_VALUE", "hunter2", "eyJhbGciOiJIUzI1NiJ9"])
      expect(text).not.toContain(secret);
    const suspicious = await admin.listSecurityEvents({
      filter: `actor.subject = "${subject}" AND kind = SUSPICIOUS_INPUT AND client_ip = "198.51.100.4"`,
    });
    expect(suspicious.securityEvents).toHaveLength(1);
    const ev = suspicious.securityEvents[0];
    expect(ev?.kind).toBe(SecurityEventKind.SUSPICIOUS_INPUT);
    expect(ev?.reason).toBe("sql_metachar_in_id");
    expect(ev?.details).toMatchObject({ field: "name", length: 100000, token: "***" });
    expect(ev?.requestId).toBe("req-1");
    const authFailed = await admin.listSecurityEvents({
      filter: `actor.subject = "${subject}" AND reason = "jwt_expired"`,
    });
    expect(authFailed.securityEvents[0]?.actor?.type).toBe(ActorType.ANONYMOUS);
    const got = await admin.getSecurityEvent({ name: ev?.name as string });
    expect(got.securityEvent).toEqual(ev);
  });
});

describe("RunAuditRetention", () => {
  it("runs audit_drop_expired when installed, else FAILED_PRECONDITION naming it", async () => {
    const exists =
      (await sql.query("select 1 from pg_proc where proname = 'audit_drop_expired'")).rowCount !== 0;
    if (!exists) {
      const err = await rpcError(admin.runAuditRetention({ dryRun: true }));
      expect(err.code).toBe(Code.FailedPrecondition);
      expect(err.rawMessage).toContain("audit_drop_expired(days)");
      expect(reasonOf(err)).toBe("NOT_CONFIGURED");
      return;
    }
    const res = await admin.runAuditRetention({ dryRun: true });
    expect(res.cutoffTime).toBeDefined();
    expect(res.removedRowCount).toBeGreaterThanOrEqual(0n);
  });

  it("runs the scheduler's retention on the retention connection and reports what it removed", async () => {
    // An expired month with three rows: written to the default partition, then given its own partition.
    for (let i = 0; i < 3; i++) {
      await insertAudit({ entityType: "expired_case", at: new Date(Date.UTC(2020, 0, 10 + i)) });
    }
    await sql.query("select audit_ensure_partitions(0)");
    const owner = (await initOrm({ url: db.url, pool: { min: 0, max: 1 } })) as MikroORM;
    const scheduler = new AuditScheduler({
      logger,
      metrics: createProcessMetrics({ defaultMetrics: false }),
      sealDb: ormSql(owner),
      retentionDb: ormSql(owner),
      sealIntervalMs: 0,
      retentionIntervalMs: 0,
      retentionDays: 90,
    });
    const withRetention = createServer({
      orm,
      logger,
      monitoring: {
        serviceAddresses: {},
        alerting: { manual: true },
        auditRetention: () => scheduler.retentionNow(),
      },
    });
    const notConfigured = createServer({
      orm,
      logger,
      monitoring: { serviceAddresses: {}, alerting: { manual: true }, auditRetention: null },
    });
    try {
      const a = clientAs("root@example.com", "admin", (await withRetention.listen("127.0.0.1", 0)).port);
      // A dry run tells the same without removing anything.
      const dry = await a.runAuditRetention({ dryRun: true });
      expect(dry.droppedPartitions).toEqual(["audit_log_p202001"]);
      expect(dry.removedRowCount).toBe(3n);
      const res = await a.runAuditRetention({ dryRun: false });
      expect(res.droppedPartitions).toEqual(["audit_log_p202001"]);
      expect(res.removedRowCount).toBe(3n);
      expect(res.ran).toBe(true);
      const gone = await sql.query("select 1 from audit_log where entity_type = 'expired_case'");
      expect(gone.rowCount).toBe(0);
      // Twice is safe: nothing left to remove.
      expect((await a.runAuditRetention({ dryRun: false })).removedRowCount).toBe(0n);

      const b = clientAs("root@example.com", "admin", (await notConfigured.listen("127.0.0.1", 0)).port);
      const err = await rpcError(b.runAuditRetention({ dryRun: false }));
      expect(err.code).toBe(Code.FailedPrecondition);
      expect(reasonOf(err)).toBe("NOT_CONFIGURED");
      // A dry run needs no retention connection.
      expect((await b.runAuditRetention({ dryRun: true })).ran).toBe(true);
    } finally {
      await withRetention.shutdown(1_000);
      await notConfigured.shutdown(1_000);
      await owner.close(true);
    }
  });
});

function collectionName(type: string): string {
  return `${type.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())}s`;
}
