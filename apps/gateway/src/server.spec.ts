import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { BadRequestSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { createLogger } from "@taskmaster/telemetry/logger";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  listenGateway,
  openEdge,
  startTaskUpstream,
  type TaskUpstream,
  taskGateway,
} from "./gateway.test-util.js";
import { createGatewayServer, type Gateway } from "./server.js";

const logger = createLogger({ service: "test", level: "silent" });
/** Development mode (no auth): these tests are about forwarding; edge.spec.ts covers security. */
const edge = openEdge(logger);
const listen = async (gateway: Gateway) => `http://127.0.0.1:${await listenGateway(gateway)}`;

describe("gateway -> task-service -> PostgreSQL over real sockets", () => {
  let upstream: TaskUpstream;
  let gateway: Gateway;
  let baseUrl: string;

  beforeAll(async () => {
    upstream = await startTaskUpstream(logger);
    gateway = taskGateway(logger, upstream, { edge });
    baseUrl = await listen(gateway);
  });
  afterAll(async () => {
    await new Promise((resolve) => gateway?.server.close(resolve));
    gateway?.close();
    await upstream?.close();
  });

  it("forwards Connect JSON calls and returns the service's answer", async () => {
    const client = createClient(TaskService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
    const { task } = await client.createTask({ task: { title: "Through the gateway", labels: ["edge"] } });
    expect(task?.name).toMatch(/^tasks\/[0-9a-f-]{36}$/);
    const fetched = await client.getTask({ name: task?.name ?? "" });
    expect(fetched.task?.title).toBe("Through the gateway");
  });

  it("hands services the caller's audit context: request id, client address and user agent", async () => {
    const client = createClient(
      TaskService,
      createConnectTransport({
        baseUrl,
        httpVersion: "1.1",
        interceptors: [
          (next) => (req) => {
            req.header.set("user-agent", "edge-audit-check/2.0");
            req.header.set("x-request-id", "req-edge-audit");
            return next(req);
          },
        ],
      }),
    );
    const { task } = await client.createTask({ task: { title: "Audited through the gateway" } });
    const rows = (await upstream.orm.em
      .fork()
      .getConnection()
      .execute(
        "select request_id, host(client_ip) as client_ip, user_agent from audit_log where entity_id = ?",
        [task?.uid ?? ""],
      )) as { request_id: string; client_ip: string; user_agent: string }[];
    expect(rows).toEqual([
      { request_id: "req-edge-audit", client_ip: "127.0.0.1", user_agent: "edge-audit-check/2.0" },
    ]);
  });

  it("forwards gRPC-Web calls", async () => {
    const client = createClient(TaskService, createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }));
    const { tasks } = await client.listTasks({ pageSize: 10 });
    expect(tasks.length).toBeGreaterThan(0);
  });

  it("passes the service's error code and field violations through unchanged", async () => {
    const client = createClient(TaskService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
    const error = await client.createTask({ task: { title: "no" } }).catch((e) => ConnectError.from(e));
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    const violations = (error as ConnectError)
      .findDetails(BadRequestSchema)
      .flatMap((d) => d.fieldViolations);
    expect(violations.map((v) => v.field)).toContain("task.title");
  });

  it("answers NOT_FOUND for unknown ids through the edge", async () => {
    const client = createClient(TaskService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
    const error = await client
      .getTask({ name: "tasks/0190a0b0-0000-7000-8000-0000000000ff" })
      .catch((e) => ConnectError.from(e));
    expect((error as ConnectError).code).toBe(Code.NotFound);
  });

  it("refuses malformed JSON and oversize bodies cleanly and keeps serving", async () => {
    const url = `${baseUrl}/taskmaster.task.v1.TaskService/CreateTask`;
    const bad = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe("invalid_argument");
    const huge = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ task: { title: "x".repeat(100 * 1024) } }),
    });
    expect(huge.ok).toBe(false);
    const health = await fetch(`${baseUrl}/health`);
    expect(health.status).toBe(200);
  });

  it("serves /health as JSON naming each upstream", async () => {
    const res = await fetch(`${baseUrl}/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; services: Record<string, { status: string }> };
    expect(body.status).toBe("SERVING");
    expect(body.services[TaskService.typeName]?.status).toBe("SERVING");
  });

  it("answers 404 for paths that are no RPC", async () => {
    const res = await fetch(`${baseUrl}/nope`, { method: "POST" });
    expect(res.status).toBe(404);
  });
});

describe("gateway with an upstream down", () => {
  it("reports 503 on /health and UNAVAILABLE for calls to it", async () => {
    // A port nobody listens on: bind and release one.
    const probe = createGatewayServer({
      logger,
      upstreams: [],
      maxTimeoutMs: 1_000,
      readMaxBytes: 1024,
      edge,
    });
    const deadPort = Number(new URL(await listen(probe)).port);
    await new Promise((resolve) => probe.server.close(resolve));

    const gateway = createGatewayServer({
      logger,
      upstreams: [{ service: TemplateService, address: `127.0.0.1:${deadPort}` }],
      maxTimeoutMs: 2_000,
      readMaxBytes: 64 * 1024,
      edge,
    });
    const baseUrl = await listen(gateway);
    try {
      const res = await fetch(`${baseUrl}/health`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { services: Record<string, { status: string }> };
      expect(body.services[TemplateService.typeName]?.status).toBe("NOT_SERVING");
      const client = createClient(TemplateService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
      const error = await client.listTemplates({}).catch((e) => ConnectError.from(e));
      expect([Code.Unavailable, Code.DeadlineExceeded]).toContain((error as ConnectError).code);
    } finally {
      await new Promise((resolve) => gateway.server.close(resolve));
      gateway.close();
    }
  });
});
