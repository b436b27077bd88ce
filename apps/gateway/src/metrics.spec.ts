import { connect } from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { type MetricsEndpoint, startMetricsEndpoint } from "@taskmaster/rpc-kit/http-endpoints";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createProcessMetrics } from "@taskmaster/telemetry/metrics";
import { parseExposition } from "@taskmaster/testing/prometheus-exposition";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listenGateway, openEdge, startTaskUpstream, taskGateway } from "./gateway.test-util.js";
import { createSecurityEvents } from "./security-events.js";
import type { Gateway } from "./server.js";

const logger = createLogger({ service: "test", level: "silent" });

describe("gateway /metrics", () => {
  const metrics = createProcessMetrics();
  const events = createSecurityEvents({ logger, registry: metrics.registry });
  let upstream: Awaited<ReturnType<typeof startTaskUpstream>>;
  let gateway: Gateway;
  let endpoint: MetricsEndpoint;
  let baseUrl: string;
  let gatewayPort: number;

  beforeAll(async () => {
    upstream = await startTaskUpstream(logger);
    gateway = taskGateway(logger, upstream, { edge: openEdge(logger, events), metrics });
    gatewayPort = await listenGateway(gateway);
    baseUrl = `http://127.0.0.1:${gatewayPort}`;
    endpoint = await startMetricsEndpoint({ host: "127.0.0.1", port: 0, registry: metrics.registry });
  });
  afterAll(async () => {
    await endpoint?.close();
    await new Promise((resolve) => gateway?.server.close(resolve));
    gateway?.close();
    await upstream?.close();
  });

  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${endpoint.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    return parseExposition(await res.text());
  };

  it("counts and times every RPC by procedure and final code, over Connect and gRPC-Web", async () => {
    const connectClient = createClient(TaskService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
    const webClient = createClient(TaskService, createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }));
    const { task } = await connectClient.createTask({ task: { title: "Measured at the edge" } });
    await connectClient.getTask({ name: task?.name ?? "" });
    await webClient.getTask({ name: task?.name ?? "" });
    const missing = await connectClient
      .getTask({ name: "tasks/0190a0b0-0000-7000-8000-0000000000ff" })
      .catch((e) => ConnectError.from(e));
    expect((missing as ConnectError).code).toBe(Code.NotFound);

    const samples = await scrape();
    const value = (name: string, method: string, code: string, extra: Record<string, string> = {}) =>
      samples
        .get(name)
        ?.find(
          (s) =>
            s.labels.service === TaskService.typeName &&
            s.labels.method === method &&
            s.labels.code === code &&
            Object.entries(extra).every(([k, v]) => s.labels[k] === v),
        )?.value;
    expect(value("rpc_server_requests_total", "CreateTask", "OK")).toBe(1);
    expect(value("rpc_server_requests_total", "GetTask", "OK")).toBe(2);
    expect(value("rpc_server_requests_total", "GetTask", "NOT_FOUND")).toBe(1);
    expect(value("rpc_server_duration_seconds_count", "GetTask", "OK")).toBe(2);
    expect(value("rpc_server_duration_seconds_bucket", "GetTask", "OK", { le: "+Inf" })).toBe(2);
    expect(value("rpc_server_duration_seconds_sum", "GetTask", "OK")).toBeGreaterThan(0);
    expect(samples.has("process_cpu_user_seconds_total")).toBe(true);
  });

  it("exposes the gateway's security-event counter in the same registry", async () => {
    // A malformed request line: the gateway answers 400 and records a suspicious_input event.
    await new Promise<void>((resolve, reject) => {
      const socket = connect(gatewayPort, "127.0.0.1", () => socket.write("NOT HTTP AT ALL\r\n\r\n"));
      socket.on("error", reject);
      socket.on("close", () => resolve());
      socket.resume();
    });
    const counter = (await scrape()).get("gateway_security_events_total") ?? [];
    expect(
      counter.find((s) => s.labels.kind === "suspicious_input" && s.labels.reason === "malformed_http")
        ?.value,
    ).toBe(1);
  });

  it("serves /metrics only on its own listener", async () => {
    expect((await fetch(`${baseUrl}/metrics`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${endpoint.port}/other`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${endpoint.port}/metrics`, { method: "POST" })).status).toBe(405);
  });
});
