/**
 * The SDK as services start it (`startTelemetry`, NodeSDK, OTLP http/protobuf to a local receiver): spans
 * created through the global OpenTelemetry API leave the process masked. Own file: it starts the process-wide
 * SDK.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SpanStatusCode, trace } from "@opentelemetry/api";
import { FREE_TEXT } from "@taskmaster/config/masking-corpus";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTelemetry } from "./otel.js";
import { otelEnabled, shutdownOtel } from "./otel-state.js";

const traces: Buffer[] = [];
let server: Server;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/v1/traces") traces.push(Buffer.concat(chunks));
      res.writeHead(200, { "content-type": "application/x-protobuf" });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  // The OTLP exporters read their endpoint from the process environment.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.OTEL_METRICS_EXPORTER = "none";
});

afterAll(async () => {
  await shutdownOtel();
  await new Promise((resolve) => server.close(resolve));
});

describe("startTelemetry exports only masked spans", () => {
  it("corpus secrets in span names, attributes, exceptions and status never reach the collector", async () => {
    const settings = await startTelemetry({
      serviceName: "masking-test",
      serviceVersion: "0.0.0",
      env: { ...process.env, TASKMASTER_PROFILE: "test" },
    });
    expect(settings.enabled).toBe(true);
    expect(otelEnabled()).toBe(true);
    const tracer = trace.getTracer("otel-masking-test");
    for (const [, text] of FREE_TEXT) {
      const span = tracer.startSpan(text, {
        attributes: { "app.detail": text, "rpc.method": "benign-method" },
      });
      span.recordException(new Error(text));
      span.setStatus({ code: SpanStatusCode.ERROR, message: text });
      span.end();
    }
    await shutdownOtel();
    const body = Buffer.concat(traces);
    expect(body.includes("benign-method")).toBe(true);
    expect(body.includes("masking-test")).toBe(true);
    for (const [name, , secret] of FREE_TEXT) expect(body.includes(secret), name).toBe(false);
  });
});
