/**
 * Suspicious input as deployed: `runDatabaseService` installs `suspiciousInputRecorder` as a process-wide
 * server interceptor; a request with SQL metacharacters in an id field is still answered normally
 * (INVALID_ARGUMENT from validation) and leaves one masked `security_events` row. Real socket, real PostgreSQL.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import {
  type SuspiciousInputRecorder,
  suspiciousInputRecorder,
} from "@taskmaster/service-runtime/database-service";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createProcessMetrics } from "@taskmaster/telemetry/metrics";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "./server.js";

let db: TestDatabase;
let orm: MikroORM;
let server: GrpcServer;
let recorder: SuspiciousInputRecorder;
let port: number;
const metrics = createProcessMetrics({ defaultMetrics: false });

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await initOrm({ url: db.appUrl, pool: { min: 0, max: 4 } });
  const logger = createLogger({ service: "task-service-test", level: "silent" });
  recorder = suspiciousInputRecorder({ orm, logger, metrics });
  server = createServer({ orm, logger, security: { interceptors: [recorder.interceptor] } });
  ({ port } = await server.listen("127.0.0.1", 0));
});

afterAll(async () => {
  await server?.shutdown(1_000);
  await recorder?.settled();
  await orm?.close(true);
  await db?.drop();
});

const counted = async () =>
  (await metrics.securityEvents.get()).values.find(
    (v) => v.labels.kind === "suspicious_input" && v.labels.reason === "sql_metachar_in_id",
  )?.value ?? 0;

describe("suspicious input", () => {
  it("answers INVALID_ARGUMENT and records one masked security event", async () => {
    const before = await counted();
    const evil = "tasks/'; drop table tasks; --";
    const client = createClient(TaskService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
    const error = await client
      .getTask({ name: evil }, { headers: { "x-request-id": "req-suspicious-1" } })
      .then(
        () => undefined,
        (err: unknown) => ConnectError.from(err),
      );
    expect(error && Code[error.code]).toBe(Code[Code.InvalidArgument]);
    await recorder.settled();
    const rows: { kind: string; detail: Record<string, unknown> }[] = await orm.em
      .getConnection()
      .execute("select kind, detail from security_events", [], "all");
    expect(rows).toHaveLength(1);
    expect(rows[0]?.kind).toBe("suspicious_input");
    expect(rows[0]?.detail).toMatchObject({
      reason: "sql_metachar_in_id",
      rpc: "/taskmaster.task.v1.TaskService/GetTask",
      request_id: "req-suspicious-1",
      fields: `name:sql_metachar_in_id:${evil.length}`,
    });
    expect(JSON.stringify(rows[0]?.detail)).not.toContain("drop table");
    expect(await counted()).toBe(before + 1);
    // The table the value named is untouched and the service keeps answering.
    const created = await client.createTask({ task: { title: "still here" } });
    expect(created.task?.title).toBe("still here");
  });

  it("records the call's trace id (W3C traceparent) with the event", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const client = createClient(TaskService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
    const error = await client
      .getTask(
        { name: "tasks/' or 1=1 --" },
        { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, "x-request-id": "req-traced" } },
      )
      .then(
        () => undefined,
        (err: unknown) => ConnectError.from(err),
      );
    expect(error && Code[error.code]).toBe(Code[Code.InvalidArgument]);
    await recorder.settled();
    const rows: { detail: Record<string, unknown> }[] = await orm.em
      .getConnection()
      .execute("select detail from security_events where detail->>'request_id' = 'req-traced'", [], "all");
    expect(rows.map((r) => r.detail.trace_id)).toEqual([traceId]);
  });
});
