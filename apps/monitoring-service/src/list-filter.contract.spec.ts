/**
 * Every MonitoringService and AuditService RPC with a `filter` request field (found from the descriptors)
 * refuses an unknown field and a malformed expression with INVALID_ARGUMENT naming `filter`.
 */
import type { DescService } from "@bufbuild/protobuf";
import { timestampFromDate, timestampNow } from "@bufbuild/protobuf/wkt";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { AuditService } from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_service_pb";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { expectFilterRejected, methodsWithFilter } from "@taskmaster/testing/list-filter-contract";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "./server.js";

let db: TestDatabase;
let orm: MikroORM;
let server: GrpcServer | undefined;
let baseUrl = "";

/** Other request fields a method needs to get as far as its filter. */
const needs: Record<string, Record<string, unknown>> = {
  ExportAuditEvents: {
    timeRange: { startTime: timestampFromDate(new Date(Date.now() - 3_600_000)), endTime: timestampNow() },
  },
};

/** An admin caller (the audit RPCs need the admin role). */
const admin: Interceptor = (next) => (req) => {
  req.header.set("x-taskmaster-actor", "root@example.com");
  req.header.set("x-taskmaster-roles", "admin");
  return next(req);
};

beforeAll(async () => {
  db = await createTestDatabase();
  orm = (await initOrm({ url: db.monitorUrl, pool: { min: 0, max: 4 } })) as MikroORM;
  server = createServer({
    orm,
    logger: createLogger({ service: "filter-contract-test", level: "silent" }),
    monitoring: {
      serviceAddresses: {},
      healthIntervalMs: 60_000,
      dbTimeoutMs: 5_000,
      alerting: { manual: true },
    },
  });
  baseUrl = `http://127.0.0.1:${(await server.listen("127.0.0.1", 0)).port}`;
});

afterAll(async () => {
  await server?.shutdown(1_000);
  await orm?.close(true);
  await db?.drop();
});

describe.each<[string, DescService]>([
  ["MonitoringService", MonitoringService],
  ["AuditService", AuditService],
])("%s filter contract", (_, service) => {
  const methods = methodsWithFilter(service);

  it("finds the RPCs with a filter field", () => {
    expect(methods.length).toBeGreaterThan(1);
  });

  for (const method of methods) {
    it(`${method.name} refuses an unknown field and malformed expressions naming filter`, async () => {
      const client = createClient(service, createGrpcTransport({ baseUrl, interceptors: [admin] }));
      await expectFilterRejected(client, method, needs[method.name] ?? {});
    });
  }
});
