/**
 * The request contract, derived from the descriptors (libs/testing descriptor-walker.ts): for EVERY RPC of
 * every public service and every protocol, a request with an unknown field (JSON), an unknown enum value
 * (JSON names, JSON and binary numbers) or a NUL character in a string is refused with INVALID_ARGUMENT and
 * a BadRequest field violation naming the field (enum refusals list the accepted names). Protocols: Connect
 * JSON, Connect binary, gRPC-Web and native gRPC through the gateway (fast path and router), and native gRPC
 * straight to the service server (rpc-kit createGrpcServer, as every service runs it). The service handlers
 * are left unimplemented: a request the check lets through answers UNIMPLEMENTED and fails the test.
 *
 * Also here: errors stay bounded whatever the input (200 bad values in GetPoolStats), and the gateway's
 * answers to unknown methods and missing content types are Connect errors.
 */
import type { AddressInfo } from "node:net";
import { create, fromBinary, type JsonObject, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { BadRequestSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import {
  createGrpcServer,
  type GrpcServer,
  partialServiceRegistration,
} from "@taskmaster/rpc-kit/grpc-server";
import { validator } from "@taskmaster/rpc-kit/validation";
import { createLogger } from "@taskmaster/telemetry/logger";
import {
  encodeJson,
  listRpcs,
  minimalRequest,
  PUBLIC_SERVICES,
  type RequestCase,
  type Rpc,
  UNKNOWN_FIELD,
  withNulStrings,
  withUnknownEnumValues,
  withUnknownJsonField,
} from "@taskmaster/testing/descriptor-walker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthenticator } from "./authn.js";
import { createRoleResolver, roleMapSchema } from "./authz.js";
import { LIMIT_DEFAULTS } from "./gateway-config.js";
import { createSecurityEvents } from "./security-events.js";
import { createGatewayServer, type Gateway } from "./server.js";

const logger = createLogger({ service: "test", level: "silent" });
const KNOWN = "task-service, template-service, monitoring-service, gateway";

let upstream: GrpcServer;
let upstreamUrl: string;
let gateway: Gateway;
let gatewayUrl: string;

beforeAll(async () => {
  upstream = createGrpcServer({
    logger,
    services: PUBLIC_SERVICES.map((service) =>
      service === MonitoringService
        ? partialServiceRegistration(MonitoringService, {
            // As the real handler validates `services` (one violation per unknown name).
            getPoolStats(req) {
              const v = validator();
              req.services.forEach((s, i) => {
                v.add(`services[${i}]`, `unknown service ${JSON.stringify(s)} (known: ${KNOWN})`);
              });
              v.check();
              return {};
            },
          })
        : service === TaskService
          ? partialServiceRegistration(TaskService, {
              // The one client-streaming RPC: a handler reads its input (where the check refuses it).
              async uploadAttachment(requests) {
                for await (const _ of requests) {
                  // drain
                }
                throw new ConnectError("read every request message", Code.Unimplemented);
              },
            })
          : partialServiceRegistration(service, {}),
    ),
    reflection: false,
  });
  const { address } = await upstream.listen("127.0.0.1", 0);
  upstreamUrl = `http://${address}`;
  gateway = createGatewayServer({
    logger,
    upstreams: PUBLIC_SERVICES.map((service) => ({ service, address })),
    maxTimeoutMs: 10_000,
    readMaxBytes: 1024 * 1024,
    edge: {
      authenticator: createAuthenticator({ mode: "none", clockToleranceSeconds: 30, jwksCooldownMs: 0 }),
      resolveRoles: createRoleResolver(roleMapSchema.parse({})),
      events: createSecurityEvents({ logger }),
      limits: {
        ...LIMIT_DEFAULTS.test,
        perIdentity: { ratePerSecond: 1_000_000, burst: 1_000_000 },
        perIp: { ratePerSecond: 1_000_000, burst: 1_000_000 },
      },
    },
  });
  await new Promise<void>((resolve) => gateway.server.listen(0, "127.0.0.1", resolve));
  gatewayUrl = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  gateway?.closeAllConnections();
  await new Promise((resolve) => gateway?.server.close(resolve));
  gateway?.close();
  await upstream?.shutdown(0);
});

/** What a refusal said: code, message and the BadRequest violations (field + description). */
interface Outcome {
  readonly code: string;
  readonly message: string;
  readonly violations: readonly { field: string; description: string }[];
}

async function* once<T>(value: T): AsyncIterable<T> {
  yield value;
}

/** One call over a connect-es transport (any binary protocol), whatever the method kind. */
async function callBinary(transport: Transport, rpc: Rpc, message: Message): Promise<Outcome> {
  try {
    if (rpc.method.methodKind === "unary") {
      await transport.unary(rpc.method as never, undefined, 10_000, undefined, message);
    } else {
      const res = await transport.stream(rpc.method as never, undefined, 10_000, undefined, once(message));
      for await (const _ of res.message) {
        // drain
      }
    }
    return { code: "ok", message: "", violations: [] };
  } catch (err) {
    const e = ConnectError.from(err);
    const violations = e.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations);
    return { code: Code[e.code] ?? String(e.code), message: e.rawMessage, violations };
  }
}

interface JsonError {
  code: string;
  message?: string;
  details?: {
    type: string;
    value: string;
    debug?: { fieldViolations?: { field: string; description: string }[] };
  }[];
}

/** The violations of a Connect JSON error, read from the readable `debug` form (checked against `value`). */
function outcomeOfJson(error: JsonError): Outcome {
  const violations = (error.details ?? [])
    .filter((d) => d.type === "google.rpc.BadRequest")
    .flatMap((d) => {
      const decoded = fromBinary(BadRequestSchema, Buffer.from(d.value, "base64"));
      expect(d.debug?.fieldViolations?.map((v) => v.field)).toEqual(
        decoded.fieldViolations.map((v) => v.field),
      );
      return d.debug?.fieldViolations ?? [];
    });
  return { code: error.code, message: error.message ?? "", violations };
}

function envelope(flags: number, payload: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(payload.byteLength, 1);
  return Buffer.concat([head, payload]);
}

/** One Connect JSON call as curl would make it: unary POST, or the Connect streaming envelope. */
async function callJson(rpc: Rpc, json: JsonObject): Promise<Outcome> {
  const body = encodeJson(json);
  const url = `${gatewayUrl}${rpc.path}`;
  if (rpc.method.methodKind === "unary") {
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
    const text = await res.text();
    if (res.ok) return { code: "ok", message: "", violations: [] };
    return outcomeOfJson(JSON.parse(text) as JsonError);
  }
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/connect+json" },
    body: envelope(0, body),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (res.headers.get("content-type")?.startsWith("application/json")) {
    return outcomeOfJson(JSON.parse(bytes.toString("utf8")) as JsonError);
  }
  for (let at = 0; at + 5 <= bytes.byteLength; ) {
    const flags = bytes.readUInt8(at);
    const length = bytes.readUInt32BE(at + 1);
    const payload = bytes.subarray(at + 5, at + 5 + length);
    at += 5 + length;
    if (flags & 0x02) {
      const end = JSON.parse(payload.toString("utf8")) as { error?: JsonError };
      return end.error === undefined ? { code: "ok", message: "", violations: [] } : outcomeOfJson(end.error);
    }
  }
  return { code: `no end-stream (HTTP ${res.status})`, message: "", violations: [] };
}

/** Why the outcome is not the refusal `c` expects, or undefined when it is. */
function mismatch(c: RequestCase, o: Outcome): string | undefined {
  if (o.code !== "InvalidArgument" && o.code !== "invalid_argument") return `${o.code}: ${o.message}`;
  const v = o.violations.find((x) => x.field === c.field);
  if (v === undefined) return `no violation for ${c.field} in ${JSON.stringify(o.violations)}`;
  if (c.label.startsWith("unknown enum") && !/accepted: [A-Z0-9_]+_UNSPECIFIED/.test(v.description)) {
    return `enum violation lists no accepted names: ${v.description}`;
  }
  return undefined;
}

/** Runs `fn` over `items` with at most `limit` in flight; collects the failures. */
async function each<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<string | undefined>) {
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      const failure = await fn(item);
      if (failure !== undefined) failures.push(failure);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return failures;
}

const rpcs = listRpcs();

describe("every RPC refuses what its contract does not declare", () => {
  it("walks every RPC of every public service", () => {
    expect(rpcs.length).toBeGreaterThanOrEqual(120);
    expect(rpcs.filter((r) => withUnknownEnumValues(r.method.input).length > 0).length).toBeGreaterThan(10);
  });

  it("Connect JSON: an unknown field, an unknown enum name or number, a NUL in a string", async () => {
    // NUL: the first string of each request here (every string of every request is sent straight to the
    // service below; the gateway passes JSON strings on unchanged).
    const cases = rpcs.flatMap((rpc) =>
      [
        withUnknownJsonField(rpc.method.input),
        ...withUnknownEnumValues(rpc.method.input),
        ...withNulStrings(rpc.method.input).slice(0, 1),
      ].map((c) => ({ rpc, c })),
    );
    const failures = await each(cases, 16, async ({ rpc, c }) => {
      const why = mismatch(c, await callJson(rpc, c.json));
      return why && `${rpc.path} ${c.label}: ${why}`;
    });
    expect(failures).toEqual([]);
  });

  it("every binary protocol, through the gateway and straight to the service: unknown enum numbers", async () => {
    const transports: Record<string, Transport> = {
      "gateway gRPC": createGrpcTransport({ baseUrl: gatewayUrl }),
      "gateway gRPC-Web": createGrpcWebTransport({ baseUrl: gatewayUrl, httpVersion: "1.1" }),
      "gateway Connect binary": createConnectTransport({
        baseUrl: gatewayUrl,
        httpVersion: "1.1",
        useBinaryFormat: true,
      }),
      "service gRPC": createGrpcTransport({ baseUrl: upstreamUrl }),
    };
    const cases = rpcs.flatMap((rpc) =>
      withUnknownEnumValues(rpc.method.input)
        .filter((c) => c.message !== undefined)
        .flatMap((c) => Object.entries(transports).map(([name, t]) => ({ rpc, c, name, t }))),
    );
    expect(cases.length).toBeGreaterThan(40);
    const failures = await each(cases, 16, async ({ rpc, c, name, t }) => {
      const why = mismatch(c, await callBinary(t, rpc, c.message as Message));
      return why && `${name} ${rpc.path} ${c.label}: ${why}`;
    });
    expect(failures).toEqual([]);
  });

  it("straight to the service: a NUL in any string of any request", async () => {
    const t = createGrpcTransport({ baseUrl: upstreamUrl });
    const cases = rpcs.flatMap((rpc) => withNulStrings(rpc.method.input).map((c) => ({ rpc, c })));
    const failures = await each(cases, 16, async ({ rpc, c }) => {
      const why = mismatch(c, await callBinary(t, rpc, c.message as Message));
      return why && `${rpc.path} ${c.label}: ${why}`;
    });
    expect(failures).toEqual([]);
  });

  it("binary keeps unknown fields and the minimal request passes the check (handlers answer UNIMPLEMENTED)", async () => {
    const t = createGrpcTransport({ baseUrl: gatewayUrl });
    const rpc = rpcs.find((r) => r.method.name === "GetTask") as Rpc;
    const minimal = minimalRequest(rpc.method.input).message as Message;
    // Field 999 (varint 7): unknown to this server; kept by protobuf-es as an unknown field, not refused.
    const withUnknown = create(rpc.method.input, minimal) as Message & { $unknown?: unknown };
    withUnknown.$unknown = [{ no: 999, wireType: 0, data: new Uint8Array([7]) }];
    expect((await callBinary(t, rpc, withUnknown)).code).toBe("Unimplemented");
    expect((await callJson(rpc, minimalRequest(rpc.method.input).json)).code).toBe("unimplemented");
  });

  it("names the misspelled field of the issue's example (CreateTask over Connect JSON)", async () => {
    const rpc = rpcs.find((r) => r.method.name === "CreateTask") as Rpc;
    const o = await callJson(rpc, {
      task: { title: "x", type: "feature", priorty: "TASK_PRIORITY_HIGH" },
    } as JsonObject);
    expect(o.code).toBe("invalid_argument");
    expect(o.violations.map((v) => v.field).sort()).toEqual(["task.priorty", "task.type"]);
    expect(o.violations.find((v) => v.field === "task.type")?.description).toMatch(/accepted: TASK_TYPE_/);
    expect(UNKNOWN_FIELD).not.toBe("priorty");
  });
});

describe("errors stay bounded whatever the input", () => {
  const services = Array.from({ length: 200 }, (_, i) => `no-such-service-${i}-${"x".repeat(60)}`);
  const rpc = () => rpcs.find((r) => r.method.name === "GetPoolStats") as Rpc;

  const assertBounded = (o: Outcome) => {
    expect(o.code).toMatch(/^(InvalidArgument|invalid_argument)$/);
    expect(Buffer.byteLength(o.message)).toBeLessThanOrEqual(1024);
    expect(o.message).toMatch(/; and 1\d\d more$/);
    expect(o.violations.length).toBeGreaterThan(0);
    expect(o.violations.length).toBeLessThanOrEqual(20);
  };

  it("GetPoolStats with 200 unknown services, over gRPC straight to the service and through the gateway", async () => {
    const message = create(rpc().method.input, { services });
    assertBounded(await callBinary(createGrpcTransport({ baseUrl: upstreamUrl }), rpc(), message));
    assertBounded(await callBinary(createGrpcTransport({ baseUrl: gatewayUrl }), rpc(), message));
    assertBounded(
      await callBinary(createGrpcWebTransport({ baseUrl: gatewayUrl, httpVersion: "1.1" }), rpc(), message),
    );
    assertBounded(await callJson(rpc(), { services }));
  });

  it("the details trailer stays within 4 KiB (raw gRPC status)", async () => {
    const { credentials, Client, Metadata } = await import("@grpc/grpc-js");
    const client = new Client(new URL(gatewayUrl).host, credentials.createInsecure());
    const bytes = create(rpc().method.input, { services });
    const { toBinary } = await import("@bufbuild/protobuf");
    const status = await new Promise<{
      code: number;
      details: string;
      metadata: InstanceType<typeof Metadata>;
    }>((resolve) => {
      const call = client.makeUnaryRequest(
        rpc().path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(toBinary(rpc().method.input, bytes)),
        () => undefined,
      );
      call.on("status", resolve);
    });
    client.close();
    expect(status.code).toBe(Code.InvalidArgument);
    const details = status.metadata.get("grpc-status-details-bin")[0] as Buffer;
    expect(details.byteLength).toBeLessThanOrEqual(4096);
    expect(Buffer.byteLength(status.details)).toBeLessThanOrEqual(1024);
  });
});

describe("errors before any handler are Connect errors", () => {
  it("an unknown method answers unimplemented, naming it and where the API is described", async () => {
    const res = await fetch(`${gatewayUrl}/taskmaster.task.v1.TaskService/NoSuchMethod`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(404);
    const body = (await res.json()) as JsonError;
    expect(body.code).toBe("unimplemented");
    expect(body.message).toMatch(/unknown method "NoSuchMethod" of taskmaster\.task\.v1\.TaskService/);
    expect(body.message).toMatch(/docs\/api\.md/);
    const svc = await fetch(`${gatewayUrl}/taskmaster.nope.v1.Nope/X`, { method: "POST", body: "{}" });
    expect(((await svc.json()) as JsonError).message).toMatch(/unknown service "taskmaster.nope.v1.Nope"/);
  });

  it("an unknown method over gRPC answers UNIMPLEMENTED", async () => {
    const rpc = rpcs.find((r) => r.method.name === "GetTask") as Rpc;
    const moved = { ...rpc.method, name: "NoSuchMethod", parent: rpc.service } as typeof rpc.method;
    const o = await callBinary(
      createGrpcTransport({ baseUrl: gatewayUrl }),
      { ...rpc, method: moved },
      create(rpc.method.input),
    );
    expect(o.code).toBe("Unimplemented");
    expect(o.message).toMatch(/unknown method "NoSuchMethod"/);
  });

  it("a missing content type answers invalid_argument naming the accepted content types", async () => {
    // Bytes: fetch adds no content type (a string body would get text/plain).
    const res = await fetch(`${gatewayUrl}/taskmaster.task.v1.TaskService/GetTask`, {
      method: "POST",
      body: new Uint8Array([0x7b, 0x7d]),
    });
    expect(res.status).toBe(415);
    const body = (await res.json()) as JsonError;
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toMatch(/no content type; expected one of application\/json, application\/proto/);
  });
});
