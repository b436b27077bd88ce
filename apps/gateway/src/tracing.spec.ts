/**
 * OpenTelemetry end to end: the gateway and the task service run as two processes started with
 * `node --import @taskmaster/telemetry/register`, exporting OTLP/HTTP protobuf to a real receiver here. One
 * CreateTask call through the gateway must arrive as ONE trace: gateway SERVER -> gateway CLIENT ->
 * task-service SERVER -> pg spans, correctly parented across both processes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { createGrpcClient } from "@taskmaster/rpc-kit/grpc-client";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type OtlpReceiver,
  type ReceivedSpan,
  SpanKind,
  startOtlpGrpcReceiver,
  startOtlpReceiver,
} from "./otlp-receiver.test-util.js";

const register = fileURLToPath(import.meta.resolve("@taskmaster/telemetry/register"));
const apps = join(import.meta.dirname, "..", "..");
const DEADLINE_MS = 20_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Proc {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
}

/** Start `entry` with telemetry; resolves with the first log line matching `ready`. */
/** A service's environment exporting to `url` over `protocol` (quick batches, test profile, any free ports). */
function otelEnv(url: string, protocol: "http/protobuf" | "grpc"): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: url,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    OTEL_BSP_SCHEDULE_DELAY: "20",
    OTEL_METRIC_EXPORT_INTERVAL: "200",
    TASKMASTER_PROFILE: "test",
    LOG_LEVEL: "info",
    HEALTH_PORT: "0",
    METRICS_PORT: "0",
  };
}

function startService(
  entry: string,
  env: Record<string, string>,
  ready: (line: Record<string, unknown>) => boolean,
): Promise<Proc & { readyLine: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", register, entry], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: Record<string, unknown>[] = [];
    let stderr = "";
    let buffer = "";
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.stdout?.on("data", (c: Buffer) => {
      buffer += c.toString();
      let i = buffer.indexOf("\n");
      while (i >= 0) {
        const text = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        i = buffer.indexOf("\n");
        try {
          const line = JSON.parse(text) as Record<string, unknown>;
          lines.push(line);
          if (ready(line)) resolve({ child, lines, readyLine: line });
        } catch {
          // not JSON
        }
      }
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`${entry} exited with ${code}: ${stderr}`)));
  });
}

function stop(proc: Proc | undefined): Promise<void> {
  if (proc === undefined || proc.child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    proc.child.once("close", () => resolve());
    proc.child.kill("SIGTERM");
  });
}

describe("OpenTelemetry across gateway -> task-service -> PostgreSQL", () => {
  let receiver: OtlpReceiver;
  let db: TestDatabase;
  let task: Proc | undefined;
  let gateway: Proc | undefined;
  let baseUrl = "";

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    db = await createTestDatabase();
    const otel = { ...otelEnv(receiver.url, "http/protobuf"), OTEL_TRACES_SAMPLER: "parentbased_always_on" };
    task = await startService(
      join(apps, "task-service", "dist", "main.js"),
      { ...otel, DATABASE_URL: db.url, GRPC_PORT: "0" },
      (l) => l.msg === "gRPC server listening",
    );
    const taskAddress = String((task as Proc & { readyLine: { address: string } }).readyLine.address);
    const port = await freePort();
    gateway = await startService(
      join(apps, "gateway", "dist", "main.js"),
      { ...otel, GATEWAY_AUTH: "none", GATEWAY_PORT: String(port), TASK_SERVICE_ADDRESS: taskAddress },
      (l) => l.msg === "gateway listening",
    );
    baseUrl = `http://127.0.0.1:${port}`;
  }, 60_000);

  afterAll(async () => {
    await Promise.all([stop(gateway), stop(task)]);
    await receiver?.close();
    await db?.drop();
  });

  it("exports one trace with spans from both processes and the database, correctly parented", async () => {
    const client = createClient(TaskService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
    const { task: created } = await client.createTask({ task: { title: "traced" } });
    expect(created?.name).toBeTruthy();

    const byService = (spans: readonly ReceivedSpan[], service: string) =>
      spans.filter((s) => s.resource["service.name"] === service);
    const found = await receiver.waitFor((spans) => {
      const gwServer = byService(spans, "gateway").find(
        (s) => s.kind === SpanKind.SERVER && s.attributes["rpc.method"] === "CreateTask",
      );
      if (gwServer === undefined) return undefined;
      const trace = spans.filter((s) => s.traceId === gwServer.traceId);
      const gwClient = trace.find((s) => s.kind === SpanKind.CLIENT && s.parentSpanId === gwServer.spanId);
      const tsServer =
        gwClient && trace.find((s) => s.kind === SpanKind.SERVER && s.parentSpanId === gwClient.spanId);
      const sql = tsServer && trace.filter((s) => s.scope.includes("instrumentation-pg"));
      if (!gwClient || !tsServer || !sql || sql.length === 0) return undefined;
      return { gwServer, gwClient, tsServer, sql, trace };
    }, DEADLINE_MS);

    const { gwServer, gwClient, tsServer, sql, trace } = found;
    // Gateway SERVER span: a root (the client sent no traceparent), Connect RPC conventions.
    expect(gwServer.parentSpanId).toBe("");
    expect(gwServer.attributes).toMatchObject({
      "rpc.system": "connect_rpc",
      "rpc.service": "taskmaster.task.v1.TaskService",
      "rpc.method": "CreateTask",
    });
    expect(gwServer.resource).toMatchObject({ "service.name": "gateway", "deployment.environment": "test" });
    expect(gwServer.resource["service.version"]).toBe("0.1.0");
    // Gateway CLIENT span -> task-service SERVER span (traceparent over grpc metadata).
    expect(gwClient.resource["service.name"]).toBe("gateway");
    expect(gwClient.attributes).toMatchObject({
      "rpc.system": "grpc",
      "rpc.service": "taskmaster.task.v1.TaskService",
      "rpc.method": "CreateTask",
      "rpc.grpc.status_code": 0,
      "server.address": "127.0.0.1",
    });
    expect(tsServer.resource["service.name"]).toBe("task-service");
    expect(tsServer.attributes).toMatchObject({
      "rpc.system": "grpc",
      "rpc.service": "taskmaster.task.v1.TaskService",
      "rpc.method": "CreateTask",
      "rpc.grpc.status_code": 0,
    });
    // SQL spans in the task-service process, descendants of its SERVER span.
    const ids = new Map(trace.map((s) => [s.spanId, s]));
    const ancestors = (s: ReceivedSpan): string[] => {
      const out: string[] = [];
      for (let p = ids.get(s.parentSpanId); p !== undefined; p = ids.get(p.parentSpanId)) out.push(p.spanId);
      return out;
    };
    for (const s of sql) {
      expect(s.resource["service.name"]).toBe("task-service");
      expect(s.kind).toBe(SpanKind.CLIENT);
      expect(ancestors(s)).toContain(tsServer.spanId);
    }
    expect(
      sql.some(
        (s) => s.attributes["db.system"] === "postgresql" || s.attributes["db.system.name"] === "postgresql",
      ),
    ).toBe(true);
    // Both processes export OTel metrics too (OTLP protobuf), beside their Prometheus endpoints.
    await receiver.waitFor(
      () =>
        receiver.metricServices.has("gateway") && receiver.metricServices.has("task-service")
          ? true
          : undefined,
      DEADLINE_MS,
    );
    // Two processes, one trace.
    expect(new Set(trace.map((s) => s.resource["service.name"]))).toEqual(
      new Set(["gateway", "task-service"]),
    );
  });
});

describe("OpenTelemetry over OTLP/gRPC (OTEL_EXPORTER_OTLP_PROTOCOL=grpc)", () => {
  let receiver: OtlpReceiver;
  let db: TestDatabase;
  let task: (Proc & { readyLine: Record<string, unknown> }) | undefined;

  beforeAll(async () => {
    receiver = await startOtlpGrpcReceiver();
    db = await createTestDatabase();
    task = await startService(
      join(apps, "task-service", "dist", "main.js"),
      { ...otelEnv(receiver.url, "grpc"), DATABASE_URL: db.url, GRPC_PORT: "0" },
      (l) => l.msg === "gRPC server listening",
    );
  }, 60_000);

  afterAll(async () => {
    await stop(task);
    await receiver?.close();
    await db?.drop();
  });

  it("exports the server span and its SQL spans, and metrics, over gRPC", async () => {
    const client = createGrpcClient(TaskService, { address: String(task?.readyLine.address) });
    const { task: created } = await client.createTask({ task: { title: "traced over grpc" } });
    await client.getTask({ name: created?.name ?? "" });
    const found = await receiver.waitFor((spans) => {
      const server = spans.find(
        (s) => s.kind === SpanKind.SERVER && s.attributes["rpc.method"] === "GetTask",
      );
      const sql = server && spans.filter((s) => s.parentSpanId === server.spanId && s.scope.includes("pg"));
      return server && sql && sql.length > 0 ? { server, sql } : undefined;
    }, DEADLINE_MS);
    expect(found.server.resource).toMatchObject({
      "service.name": "task-service",
      "deployment.environment": "test",
    });
    expect(found.server.attributes["rpc.grpc.status_code"]).toBe(0);
    for (const s of found.sql) expect(s.traceId).toBe(found.server.traceId);
    await receiver.waitFor(
      () => (receiver.metricServices.has("task-service") ? true : undefined),
      DEADLINE_MS,
    );
  });

  it("flushes pending spans when the service stops on SIGTERM", async () => {
    // Export only on shutdown: a schedule delay far beyond the test, so spans can only come from the flush.
    const proc = await startService(
      join(apps, "task-service", "dist", "main.js"),
      {
        ...otelEnv(receiver.url, "grpc"),
        OTEL_BSP_SCHEDULE_DELAY: "600000",
        OTEL_METRICS_EXPORTER: "none",
        DATABASE_URL: db.url,
        GRPC_PORT: "0",
        OTEL_SERVICE_NAME: "task-service-flush",
      },
      (l) => l.msg === "gRPC server listening",
    );
    const client = createGrpcClient(TaskService, { address: String(proc.readyLine.address) });
    await client.listTasks({ pageSize: 1 });
    const mine = () => receiver.spans.filter((s) => s.resource["service.name"] === "task-service-flush");
    expect(mine()).toHaveLength(0);
    await stop(proc);
    expect(proc.lines.some((l) => l.step === "telemetry" && l.msg === "shutdown step done")).toBe(true);
    expect(mine().some((s) => s.kind === SpanKind.SERVER && s.attributes["rpc.method"] === "ListTasks")).toBe(
      true,
    );
  });
});
