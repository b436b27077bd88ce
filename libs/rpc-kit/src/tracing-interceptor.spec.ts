/**
 * Server/client RPC spans over real sockets with the real OpenTelemetry SDK in process (AsyncLocalStorage
 * context, W3C propagator, in-memory exporter): parenting across two hops through grpc metadata, rpc.*
 * attributes and status codes, log lines carrying the active span's ids, and nothing at all while off.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { context, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { setOtelRuntime } from "@taskmaster/telemetry/otel-state";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type EchoRequest, EchoService, failure, memoryLogger, waitFor } from "./echo-service.test-util.js";
import { createGrpcClient } from "./grpc-client.js";
import { createGrpcServer, type GrpcServer, partialServiceRegistration } from "./grpc-server.js";

const SERVICE = "rpckit.test.v1.EchoService";
const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const mem = memoryLogger();
const seenTraceparent: (string | null)[] = [];

let back: GrpcServer;
let front: GrpcServer;
let frontAddress = "";
let backAddress = "";

function backImpl() {
  return partialServiceRegistration(EchoService, {
    async echo(req: EchoRequest, ctx: HandlerContext) {
      seenTraceparent.push(ctx.requestHeader.get("traceparent"));
      mem.logger.info({ text: req.text }, "in back");
      if (req.fail === "notfound") throw new ConnectError("no such echo", Code.NotFound);
      if (req.fail === "internal") throw new ConnectError("boom", Code.Internal);
      return { text: `back:${req.text}` };
    },
    async *serverStream(req: EchoRequest) {
      for (let i = 0; i < req.count; i++) yield { text: req.text, index: i };
    },
  });
}

function frontImpl() {
  return partialServiceRegistration(EchoService, {
    async echo(req: EchoRequest, ctx: HandlerContext) {
      const client = createGrpcClient(EchoService, { address: backAddress });
      const res = await client.echo({ text: req.text, fail: req.fail }, { signal: ctx.signal });
      return { text: `front:${res.text}` };
    },
  });
}

const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
const find = (kind: SpanKind, where: (s: ReadableSpan) => boolean = () => true) =>
  spans().filter((s) => s.kind === kind && where(s));
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

describe("RPC tracing interceptors (real SDK, real sockets)", () => {
  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(provider);
    setOtelRuntime({ serviceName: "test", shutdown: () => provider.shutdown() });
    const quiet = memoryLogger().logger;
    back = createGrpcServer({ logger: quiet, services: [backImpl()] });
    backAddress = (await back.listen("127.0.0.1", 0)).address;
    front = createGrpcServer({ logger: quiet, services: [frontImpl()] });
    frontAddress = (await front.listen("127.0.0.1", 0)).address;
  });

  afterAll(async () => {
    await Promise.all([back.shutdown(1_000), front.shutdown(1_000)]);
    setOtelRuntime(undefined);
    trace.disable();
    propagation.disable();
    context.disable();
  });

  beforeEach(() => {
    exporter.reset();
    seenTraceparent.length = 0;
    mem.lines.length = 0;
  });

  it("parents client -> front server -> front client -> back server in one trace, ids in the logs", async () => {
    const tracer = trace.getTracer("test");
    const root = tracer.startSpan("test-root");
    const res = await context.with(trace.setSpan(context.active(), root), () =>
      createGrpcClient(EchoService, { address: frontAddress }).echo({ text: "hi" }),
    );
    root.end();
    expect(res.text).toBe("front:back:hi");
    await waitFor(() => find(SpanKind.SERVER).length === 2 && find(SpanKind.CLIENT).length === 2);

    const traceId = root.spanContext().traceId;
    for (const s of spans()) expect(s.spanContext().traceId).toBe(traceId);
    const [outerClient] = find(SpanKind.CLIENT, (s) => parentOf(s) === root.spanContext().spanId);
    const [frontServer] = find(SpanKind.SERVER, (s) => parentOf(s) === outerClient?.spanContext().spanId);
    const [innerClient] = find(SpanKind.CLIENT, (s) => parentOf(s) === frontServer?.spanContext().spanId);
    const [backServer] = find(SpanKind.SERVER, (s) => parentOf(s) === innerClient?.spanContext().spanId);
    expect(backServer).toBeDefined();
    expect(backServer?.name).toBe(`${SERVICE}/Echo`);
    expect(backServer?.attributes).toMatchObject({
      "rpc.system": "grpc",
      "rpc.service": SERVICE,
      "rpc.method": "Echo",
      "rpc.grpc.status_code": 0,
    });
    const port = Number(backAddress.split(":").at(-1));
    expect(innerClient?.attributes).toMatchObject({
      "rpc.system": "grpc",
      "rpc.method": "Echo",
      "rpc.grpc.status_code": 0,
      "server.address": "127.0.0.1",
      "server.port": port,
    });
    // W3C traceparent in the grpc metadata names the inner client span.
    expect(seenTraceparent[0]).toBe(`00-${traceId}-${innerClient?.spanContext().spanId}-01`);
    // The handler's log line carries the back server span's ids (logger mixin + AsyncLocalStorage context).
    const line = mem.lines.find((l) => l.msg === "in back");
    expect(line).toMatchObject({ trace_id: traceId, span_id: backServer?.spanContext().spanId });
  });

  it("records status codes: NOT_FOUND is not a server error, INTERNAL is; client spans fail on both", async () => {
    const client = createGrpcClient(EchoService, { address: backAddress });
    expect((await failure(client.echo({ text: "x", fail: "notfound" }))).code).toBe(Code.NotFound);
    expect((await failure(client.echo({ text: "y", fail: "internal" }))).code).toBe(Code.Internal);
    await waitFor(() => find(SpanKind.SERVER).length === 2 && find(SpanKind.CLIENT).length === 2);
    const server = (code: number) =>
      find(SpanKind.SERVER, (s) => s.attributes["rpc.grpc.status_code"] === code)[0];
    expect(server(5)?.status.code).toBe(SpanStatusCode.UNSET);
    expect(server(13)?.status.code).toBe(SpanStatusCode.ERROR);
    expect(server(13)?.attributes["error.type"]).toBe("INTERNAL");
    for (const c of find(SpanKind.CLIENT)) expect(c.status.code).toBe(SpanStatusCode.ERROR);
  });

  it("ends a server-streaming span when the stream ends", async () => {
    const client = createGrpcClient(EchoService, { address: backAddress });
    const got: number[] = [];
    for await (const m of client.serverStream({ text: "s", count: 3 })) got.push(m.index);
    expect(got).toEqual([0, 1, 2]);
    await waitFor(() => find(SpanKind.SERVER).length === 1);
    expect(find(SpanKind.SERVER)[0]?.attributes).toMatchObject({
      "rpc.method": "ServerStream",
      "rpc.grpc.status_code": 0,
    });
  });

  it("does nothing while telemetry is off: no spans, no traceparent", async () => {
    setOtelRuntime(undefined);
    try {
      const res = await createGrpcClient(EchoService, { address: frontAddress }).echo({ text: "off" });
      expect(res.text).toBe("front:back:off");
    } finally {
      setOtelRuntime({ serviceName: "test", shutdown: () => provider.shutdown() });
    }
    expect(spans()).toHaveLength(0);
    expect(seenTraceparent).toEqual([null]);
  });
});
