/**
 * The masking corpus (libs/config masking-corpus) through the span sink: a real OpenTelemetry SDK
 * (TracerProvider, SimpleSpanProcessor, InMemorySpanExporter) behind the masking exporter, and the
 * processors this process really uses (`maskedSpanProcessorsFromEnv`) exporting OTLP over HTTP to a local
 * receiver, in both protobuf and JSON encodings. No corpus secret may appear in any exported byte; benign
 * attributes arrive unchanged.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type Attributes, type Link, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { FREE_TEXT, KEYED } from "@taskmaster/config/masking-corpus";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MaskingSpanExporter } from "./span-masking.js";
import { maskedSpanProcessorsFromEnv } from "./trace-export.js";

const SECRETS = [...FREE_TEXT, ...KEYED].map(([name, , secret]) => [name, secret] as const);

/** `{ a: { b: "x" } }` -> `{ "app.a.b": "x" }` (arrays by index). */
function flatten(prefix: string, value: unknown, out: Attributes = {}): Attributes {
  if (typeof value === "string") out[prefix] = value;
  else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) flatten(`${prefix}.${i}`, v, out);
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) flatten(`${prefix}.${k}`, v, out);
  }
  return out;
}

const BENIGN: Attributes = {
  "rpc.system": "grpc",
  "rpc.method": "CreateTask",
  "app.count": 3,
  "app.flag": true,
  "app.note": "benign-marker plain text: 42 tasks, user=alice",
  "app.list": ["benign-a", "benign-b"],
};

/** Every place a span carries text: name, attributes (free text and keyed), events, exceptions, links, status. */
function emitCorpus(tracer: Tracer): void {
  const parent = tracer.startSpan("parent");
  for (const [, text] of FREE_TEXT) {
    const link: Link = { context: parent.spanContext(), attributes: { "app.link.detail": text } };
    const span = tracer.startSpan(text, { attributes: { "app.detail": text }, links: [link] });
    span.setAttribute("app.list", ["ok", text]);
    span.addEvent(text, { "app.event.detail": text });
    span.recordException(new Error(text));
    span.setStatus({ code: SpanStatusCode.ERROR, message: text });
    span.end();
  }
  for (const [name, value] of KEYED) {
    const span = tracer.startSpan(`keyed ${name}`, { attributes: flatten("app", value) });
    span.addEvent("keyed", flatten("app", value));
    span.end();
  }
  const benign = tracer.startSpan("taskmaster.task.v1.TaskService/CreateTask", { attributes: BENIGN });
  benign.addEvent("benign-event", { "app.note": "nothing to hide" });
  benign.setStatus({ code: SpanStatusCode.ERROR, message: "task not found" });
  benign.end();
  parent.end();
}

const text = (s: ReadableSpan): string =>
  JSON.stringify({
    name: s.name,
    attributes: s.attributes,
    events: s.events,
    links: s.links.map((l) => l.attributes),
    status: s.status,
  });

describe("no sensitive shape reaches an exported span unmasked", () => {
  it("real SDK + InMemorySpanExporter behind the masking exporter", async () => {
    const memory = new InMemorySpanExporter();
    const provider = new TracerProvider({
      spanProcessors: [new SimpleSpanProcessor({ exporter: new MaskingSpanExporter(memory) })],
    });
    emitCorpus(provider.getTracer("span-masking-test"));
    await provider.forceFlush();
    const spans = memory.getFinishedSpans();
    expect(spans.length).toBe(FREE_TEXT.length + KEYED.length + 2);
    const all = spans.map(text).join("\n");
    for (const [name, secret] of SECRETS) expect(all, name).not.toContain(secret);
    // Exceptions are still recorded (masked), not dropped.
    const exceptions = spans.flatMap((s) => s.events.filter((e) => e.name === "exception"));
    expect(exceptions).toHaveLength(FREE_TEXT.length);
    expect(exceptions.every((e) => typeof e.attributes?.["exception.message"] === "string")).toBe(true);
    // Benign data arrives unchanged.
    const benign = spans.find((s) => s.name === "taskmaster.task.v1.TaskService/CreateTask");
    expect(benign?.attributes).toEqual(BENIGN);
    expect(benign?.events[0]).toMatchObject({
      name: "benign-event",
      attributes: { "app.note": "nothing to hide" },
    });
    expect(benign?.status).toEqual({ code: SpanStatusCode.ERROR, message: "task not found" });
    expect(benign?.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    await provider.shutdown();
  });

  it("SQL text loses its literals (personal data inlined by a client library), placeholders stay", async () => {
    const memory = new InMemorySpanExporter();
    const provider = new TracerProvider({
      spanProcessors: [new SimpleSpanProcessor({ exporter: new MaskingSpanExporter(memory) })],
    });
    const span = provider.getTracer("t").startSpan("pg.query:INSERT", {
      attributes: {
        "db.statement": `insert into "tasks" ("id", "title", "story_points") values ('0198a', 'Call alice@example.com about O''Brien', 42), ($1, $2, 3.5)`,
        "db.query.text": "select t0.* from tasks as t0 where t0.title = E'it\\'s' and t0.x > -7 limit 10",
        "app.note": "values ('kept', 1)",
      },
    });
    span.end();
    expect(memory.getFinishedSpans()[0]?.attributes).toEqual({
      "db.statement": `insert into "tasks" ("id", "title", "story_points") values (?, ?, ?), ($1, $2, ?)`,
      "db.query.text": "select t0.* from tasks as t0 where t0.title = ? and t0.x > ? limit ?",
      "app.note": "values ('kept', 1)",
    });
    await provider.shutdown();
  });

  it("a secret-named attribute key masks the whole value, whatever its type", async () => {
    const memory = new InMemorySpanExporter();
    const provider = new TracerProvider({
      spanProcessors: [new SimpleSpanProcessor({ exporter: new MaskingSpanExporter(memory) })],
    });
    const span = provider.getTracer("t").startSpan("op", {
      attributes: {
        "http.request.header.authorization": ["Custom abc123"],
        "app.session_token": 123456,
        "db.system": "postgresql",
      },
    });
    span.end();
    expect(memory.getFinishedSpans()[0]?.attributes).toEqual({
      "http.request.header.authorization": "***",
      "app.session_token": "***",
      "db.system": "postgresql",
    });
    await provider.shutdown();
  });

  describe("the process's own span processors, exporting OTLP over HTTP", () => {
    let server: Server;
    let endpoint = "";
    const bodies: Buffer[] = [];
    const saved = process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;

    beforeAll(async () => {
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          bodies.push(Buffer.concat(chunks));
          res.writeHead(200, { "content-type": String(req.headers["content-type"] ?? "application/json") });
          res.end(req.headers["content-type"]?.includes("json") ? "{}" : undefined);
        });
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
      process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = endpoint;
    });

    afterAll(async () => {
      if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
      else process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = saved;
      await new Promise((resolve) => server.close(resolve));
    });

    for (const protocol of ["http/protobuf", "http/json"]) {
      it(`${protocol}: every exported byte is masked`, async () => {
        bodies.length = 0;
        const processors = await maskedSpanProcessorsFromEnv({
          OTEL_TRACES_EXPORTER: "otlp",
          OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol,
        });
        expect(processors).toHaveLength(1);
        const provider = new TracerProvider({ spanProcessors: processors });
        emitCorpus(provider.getTracer("span-masking-test"));
        await provider.forceFlush();
        await provider.shutdown();
        const all = Buffer.concat(bodies);
        // The spans really went out (the benign ones are in the body) ...
        expect(all.includes("benign-marker plain text: 42 tasks, user=alice")).toBe(true);
        expect(all.includes("taskmaster.task.v1.TaskService/CreateTask")).toBe(true);
        // ... and no secret did.
        for (const [name, secret] of SECRETS) expect(all.includes(secret), name).toBe(false);
      });
    }
  });

  it("OTEL_TRACES_EXPORTER=none: no processors (tracing off); console,otlp: one each", async () => {
    expect(await maskedSpanProcessorsFromEnv({ OTEL_TRACES_EXPORTER: "none" })).toEqual([]);
    const both = await maskedSpanProcessorsFromEnv({ OTEL_TRACES_EXPORTER: "console,otlp" });
    expect(both).toHaveLength(2);
    await Promise.all(both.map((p) => p.shutdown()));
  });
});
