/**
 * The unary fast path (fast-path.ts) against the Connect router it stands in front of: two gateways on the
 * same real grpc-js upstream, one with the fast path (the default) and one without (`unaryFastPath: false`),
 * get the same raw requests per protocol (Connect JSON, Connect binary, gRPC-Web over HTTP/1.1, native gRPC
 * over HTTP/2) and must answer the same bytes: messages, status codes, error JSON, gRPC status trailers and
 * `grpc-status-details-bin` details, edge refusals (UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED
 * with RetryInfo). Requests the fast path does not take (compressed, GET, streaming) still work.
 */

import { connect as http2Connect } from "node:http2";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { create, fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import { Code, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { StatusSchema } from "@taskmaster/proto/gen/google/rpc/status_pb";
import {
  GetTaskRequestSchema,
  GetTaskResponseSchema,
  TaskService,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { InvalidArgumentError, NotFoundError } from "@taskmaster/rpc-kit/errors";
import { createGrpcJsTransport } from "@taskmaster/rpc-kit/grpc-client";
import {
  createGrpcServer,
  type GrpcServer,
  partialServiceRegistration,
} from "@taskmaster/rpc-kit/grpc-server";
import { ACTOR_HEADER, createIdentitySigner, IDENTITY_HEADER } from "@taskmaster/rpc-kit/identity";
import { createLogger } from "@taskmaster/telemetry/logger";
import { generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCESS_HEADER, createAuthenticator } from "./authn.js";
import { createRoleResolver, roleMapSchema } from "./authz.js";
import {
  ALL_SERVICES,
  type JwksServer,
  type RsaKey,
  rsaKey,
  signToken,
  startJwksServer,
} from "./edge.test-util.js";
import { LIMIT_DEFAULTS } from "./gateway-config.js";
import { createSecurityEvents, type SecurityEvents } from "./security-events.js";
import { createGatewayServer, type Gateway, type GatewayDeps } from "./server.js";

const logger = createLogger({ service: "test", level: "silent" });
const TEAM = "https://test-team.cloudflareaccess.com";
const AUD = "aud-tag-fast-path";
const roleMap = roleMapSchema.parse({ emails: { "writer@example.com": ["writer"] } });
const GET_TASK = "/taskmaster.task.v1.TaskService/GetTask";

let jwks: JwksServer;
let key: RsaKey;
let upstream: GrpcServer;
let upstreamAddress: string;
let signer: GatewayDeps["signer"];

/** GetTask: `tasks/missing` NOT_FOUND, `tasks/bad` INVALID_ARGUMENT with a field violation, `tasks/slow`
 * answers only when cancelled; otherwise a title telling what the service saw. */
async function startUpstream(): Promise<void> {
  upstream = createGrpcServer({
    logger,
    services: [
      partialServiceRegistration(TaskService, {
        async getTask(req, ctx) {
          if (req.name === "tasks/missing") throw new NotFoundError("task", "missing");
          if (req.name === "tasks/bad")
            throw new InvalidArgumentError([{ field: "name", description: "bad" }]);
          if (req.name === "tasks/big") return { task: { name: req.name, title: "big ".repeat(2_000) } };
          if (req.name === "tasks/slow") {
            await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          }
          const h = ctx.requestHeader;
          return {
            task: {
              name: req.name,
              title: JSON.stringify({
                actor: h.get(ACTOR_HEADER),
                identity: h.get(IDENTITY_HEADER) !== null,
                requestId: h.get("x-request-id"),
                traceparent: h.get("traceparent"),
                cookie: h.get("cookie"),
                deadline: ctx.timeoutMs() !== undefined,
              }),
            },
          };
        },
        async *downloadAttachment(req) {
          yield { payload: { case: "attachment", value: { name: req.name } } };
          yield { payload: { case: "chunk", value: new Uint8Array(100).fill(7) } };
        },
      }),
      ...ALL_SERVICES.slice(1).map((s) => partialServiceRegistration(s, {})),
    ],
    reflection: false,
  });
  upstreamAddress = (await upstream.listen("127.0.0.1", 0)).address;
}

interface Door {
  readonly gateway: Gateway;
  readonly base: string;
  readonly events: SecurityEvents;
}

async function startGateway(overrides: Partial<GatewayDeps> = {}): Promise<Door> {
  const events = createSecurityEvents({ logger });
  const gateway = createGatewayServer({
    logger,
    upstreams: ALL_SERVICES.map((service) => ({ service, address: upstreamAddress })),
    maxTimeoutMs: 10_000,
    readMaxBytes: 64 * 1024,
    edge: {
      authenticator: createAuthenticator({
        mode: "jwt",
        access: { issuer: TEAM, jwksUrl: jwks.url, audience: [AUD] },
        clockToleranceSeconds: 30,
        jwksCooldownMs: 0,
      }),
      resolveRoles: createRoleResolver(roleMap),
      events,
      limits: LIMIT_DEFAULTS.test,
    },
    signer,
    ...overrides,
  });
  await new Promise<void>((resolve) => gateway.server.listen(0, "127.0.0.1", resolve));
  return { gateway, base: `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}`, events };
}

async function stop(d: Door | undefined): Promise<void> {
  if (d === undefined) return;
  d.gateway.closeAllConnections();
  await new Promise((resolve) => d.gateway.server.close(resolve));
  d.gateway.close();
}

const token = (email: string) =>
  signToken({ key, issuer: TEAM, audience: [AUD], claims: { email, sub: `id-${email}` } });

/** What a client gets, normalized for comparison: status, content type, body, gRPC status (trailers). */
interface Answer {
  readonly status: number;
  readonly contentType: string | undefined;
  /** `content-encoding` (Connect) or `grpc-encoding` (gRPC, gRPC-Web). */
  readonly encoding: string | undefined;
  readonly body: string;
  readonly grpc?: Record<string, string | undefined>;
}

type Protocol = "connect-json" | "connect-proto" | "grpc-web" | "grpc";
const PROTOCOLS: readonly Protocol[] = ["connect-json", "connect-proto", "grpc-web", "grpc"];

function frame(payload: Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(payload.byteLength, 1);
  return Buffer.concat([head, payload]);
}

/** GetTask (or `body` as is) by one protocol, raw. */
async function call(
  base: string,
  protocol: Protocol,
  name: string | { raw: Uint8Array },
  headers: Record<string, string> = {},
): Promise<Answer> {
  const message = create(GetTaskRequestSchema, { name: typeof name === "string" ? name : "" });
  const binary = typeof name === "string" ? toBinary(GetTaskRequestSchema, message) : name.raw;
  if (protocol === "grpc") {
    const res = await h2Request(
      base,
      { ":path": GET_TASK, "content-type": "application/grpc", te: "trailers", ...headers },
      frame(binary),
    );
    return {
      status: res.status,
      contentType: res.headers["content-type"],
      encoding: res.headers["grpc-encoding"],
      body: res.body.toString("base64"),
      grpc: {
        status: res.headers["grpc-status"],
        message: res.headers["grpc-message"],
        details: res.headers["grpc-status-details-bin"],
      },
    };
  }
  const contentType =
    protocol === "connect-json"
      ? "application/json"
      : protocol === "connect-proto"
        ? "application/proto"
        : "application/grpc-web+proto";
  const body =
    protocol === "connect-json"
      ? typeof name === "string"
        ? toJsonString(GetTaskRequestSchema, message)
        : Buffer.from(name.raw)
      : protocol === "connect-proto"
        ? binary
        : frame(binary);
  const res = await fetch(`${base}${GET_TASK}`, {
    method: "POST",
    headers: {
      "content-type": contentType,
      ...(protocol === "grpc-web" && { "x-grpc-web": "1" }),
      ...headers,
    },
    body,
  });
  return {
    status: res.status,
    contentType: res.headers.get("content-type") ?? undefined,
    encoding: res.headers.get("content-encoding") ?? res.headers.get("grpc-encoding") ?? undefined,
    body: Buffer.from(await res.arrayBuffer()).toString(
      protocol === "grpc-web"
        ? "latin1"
        : protocol === "connect-json" || res.status !== 200
          ? "utf8"
          : "base64",
    ),
  };
}

/** The status code of an answer: gRPC status number, or the Connect code string. */
function codeOf(protocol: Protocol, a: Answer): string | undefined {
  if (protocol === "grpc") return a.grpc?.status;
  if (protocol === "grpc-web") return /grpc-status: (\d+)/.exec(a.body)?.[1];
  return a.status === 200 ? "0" : (JSON.parse(a.body) as { code: string }).code;
}

/** The GetTask answer of a successful call. */
function taskOf(protocol: Protocol, a: Answer): { name: string; title: string } {
  if (protocol === "connect-json")
    return (JSON.parse(a.body) as { task: { name: string; title: string } }).task;
  const raw = Buffer.from(a.body, protocol === "grpc-web" ? "latin1" : "base64");
  const bytes = protocol === "connect-proto" ? raw : raw.subarray(5, 5 + raw.readUInt32BE(1));
  const task = fromBinary(GetTaskResponseSchema, bytes).task;
  return { name: task?.name ?? "", title: task?.title ?? "" };
}

/** One raw HTTP/2 request (h2c), headers and trailers merged. */
function h2Request(
  base: string,
  headers: Record<string, string>,
  body: Uint8Array,
): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const session = http2Connect(base);
  return new Promise<{ status: number; headers: Record<string, string>; body: Buffer }>((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ...headers });
    const all: Record<string, string> = {};
    const chunks: Buffer[] = [];
    let status = 0;
    const take = (h: Record<string, unknown>) => {
      for (const [k, v] of Object.entries(h)) all[k] = String(v);
    };
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      take(h);
    });
    stream.on("trailers", take);
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve({ status, headers: all, body: Buffer.concat(chunks) }));
    stream.on("error", reject);
    stream.end(body);
  }).finally(() => session.close());
}

/** The google.rpc.Status details' type names of a gRPC answer. */
function detailTypes(a: Answer): string[] {
  const raw = a.grpc?.details;
  if (raw === undefined) return [];
  return fromBinary(StatusSchema, Buffer.from(raw, "base64")).details.map(
    (d) => d.typeUrl.split("/").pop() ?? "",
  );
}

beforeAll(async () => {
  key = await rsaKey("key-fast");
  jwks = await startJwksServer([key.jwk]);
  signer = createIdentitySigner((await generateKeyPair("EdDSA", { extractable: true })).privateKey);
  await startUpstream();
});
afterAll(async () => {
  await upstream?.shutdown(1_000);
  await jwks?.close();
});

describe("unary fast path vs the Connect router", () => {
  let fast: Door;
  let router: Door;
  let writer: Record<string, string>;
  beforeAll(async () => {
    fast = await startGateway();
    router = await startGateway({ unaryFastPath: false });
    writer = { [ACCESS_HEADER]: await token("writer@example.com") };
  });
  afterAll(async () => {
    await stop(fast);
    await stop(router);
  });

  it("the fast path is on by default and off with unaryFastPath: false (binary bodies: edge first, no decoding)", async () => {
    const garbage = { raw: new Uint8Array([0xff, 0xff, 0xff]) };
    // Without credentials: the router decodes the body first (INVALID_ARGUMENT), the fast path does not.
    expect(JSON.parse((await call(fast.base, "connect-proto", garbage)).body).code).toBe("unauthenticated");
    expect(JSON.parse((await call(router.base, "connect-proto", garbage)).body).code).toBe(
      "invalid_argument",
    );
  });

  for (const protocol of PROTOCOLS) {
    it(`${protocol}: the same answers and errors (details included) as the router`, async () => {
      const cases: [string | { raw: Uint8Array }, Record<string, string>][] = [
        ["tasks/1", { ...writer, "x-request-id": "req-1", cookie: "secret=1" }],
        ["tasks/missing", writer],
        ["tasks/bad", writer],
        // Undecodable bytes with credentials: INVALID_ARGUMENT from the service's adapter vs the router's decoder.
        [{ raw: new Uint8Array([0xff, 0xff, 0xff]) }, writer],
        ["tasks/1", {}],
        ["tasks/1", { [ACCESS_HEADER]: "not-a-jwt" }],
        ["tasks/1", { [ACCESS_HEADER]: await token("nobody@example.com") }],
        // Big answers: compressed as the router does, by the client's accept list.
        ["tasks/big", { ...writer, "accept-encoding": "gzip", "grpc-accept-encoding": "gzip" }],
        ["tasks/big", { ...writer, "accept-encoding": "br, gzip", "grpc-accept-encoding": "br,gzip" }],
        ["tasks/big", { ...writer, "accept-encoding": "identity", "grpc-accept-encoding": "identity" }],
        [
          "tasks/slow",
          {
            ...writer,
            ...(protocol.startsWith("connect") ? { "connect-timeout-ms": "50" } : { "grpc-timeout": "50m" }),
          },
        ],
      ];
      for (const [name, headers] of cases) {
        if (protocol === "connect-json" && typeof name !== "string") continue;
        const viaFast = await call(fast.base, protocol, name, headers);
        const viaRouter = await call(router.base, protocol, name, headers);
        const label = `${protocol} ${JSON.stringify(name)} ${Object.keys(headers).join(",")}`;
        if (name === "tasks/slow") {
          // Both DEADLINE_EXCEEDED; which side noticed first (and so the message) may differ.
          expect([label, codeOf(protocol, viaFast)]).toEqual([label, codeOf(protocol, viaRouter)]);
          expect(codeOf(protocol, viaFast)).toMatch(/^(4|deadline_exceeded)$/);
          continue;
        }
        expect({ label, ...viaFast }).toEqual({ label, ...viaRouter });
      }
    });
  }

  it("the service sees the caller's identity token, actor, request id and a deadline; no cookies", async () => {
    for (const protocol of PROTOCOLS) {
      const a = await call(fast.base, protocol, "tasks/7", {
        ...writer,
        "x-request-id": "req-7",
        cookie: "c=1",
      });
      expect(a.status).toBe(200);
      expect({ protocol, seen: JSON.parse(taskOf(protocol, a).title) }).toEqual({
        protocol,
        seen: {
          actor: "writer@example.com",
          identity: true,
          requestId: "req-7",
          traceparent: null,
          cookie: null,
          deadline: true,
        },
      });
    }
  });

  it("real clients decode big (compressed) answers: grpc-js, connect-node gRPC, gRPC-Web and Connect", async () => {
    const auth: Interceptor = (next) => (req) => {
      req.header.set(ACCESS_HEADER, writer[ACCESS_HEADER] as string);
      return next(req);
    };
    const transports: [string, Transport][] = [
      [
        "grpc-js",
        createGrpcJsTransport({ address: fast.base.slice("http://".length), interceptors: [auth] }),
      ],
      ["connect-node gRPC", createGrpcTransport({ baseUrl: fast.base, interceptors: [auth] })],
      ["gRPC-Web", createGrpcWebTransport({ baseUrl: fast.base, httpVersion: "1.1", interceptors: [auth] })],
      [
        "Connect binary",
        createConnectTransport({ baseUrl: fast.base, httpVersion: "1.1", interceptors: [auth] }),
      ],
      [
        "Connect JSON",
        createConnectTransport({
          baseUrl: fast.base,
          httpVersion: "2",
          useBinaryFormat: false,
          interceptors: [auth],
        }),
      ],
    ];
    for (const [label, transport] of transports) {
      const got = await createClient(TaskService, transport).getTask({ name: "tasks/big" });
      expect({ label, length: got.task?.title.length }).toEqual({ label, length: 8_000 });
      (transport as { close?: () => void }).close?.();
    }
  });

  it("requests the fast path does not take go to the router: compressed, GET, streaming", async () => {
    // A gzip body: the router decodes it first, so garbage without credentials is INVALID_ARGUMENT there.
    const gz = await fetch(`${fast.base}${GET_TASK}`, {
      method: "POST",
      headers: { "content-type": "application/proto", "content-encoding": "gzip" },
      body: gzipSync(Buffer.from([0xff, 0xff, 0xff])),
    });
    expect(((await gz.json()) as { code: string }).code).toBe("invalid_argument");
    // And a good compressed request is answered like an uncompressed one.
    const good = await fetch(`${fast.base}${GET_TASK}`, {
      method: "POST",
      headers: { "content-type": "application/proto", "content-encoding": "gzip", ...writer },
      body: gzipSync(toBinary(GetTaskRequestSchema, create(GetTaskRequestSchema, { name: "tasks/gz" }))),
    });
    expect(good.status).toBe(200);
    expect(fromBinary(GetTaskResponseSchema, new Uint8Array(await good.arrayBuffer())).task?.name).toBe(
      "tasks/gz",
    );

    // Connect GET (GetTask has no side effects).
    const message = encodeURIComponent(
      toJsonString(GetTaskRequestSchema, create(GetTaskRequestSchema, { name: "tasks/get" })),
    );
    const get = await fetch(`${fast.base}${GET_TASK}?connect=v1&encoding=json&message=${message}`, {
      headers: writer,
    });
    expect(get.status).toBe(200);
    expect(((await get.json()) as { task: { name: string } }).task.name).toBe("tasks/get");

    // Server streaming over gRPC-Web.
    const client = createClient(
      TaskService,
      createGrpcWebTransport({
        baseUrl: fast.base,
        httpVersion: "1.1",
        interceptors: [
          (next) => (req) => {
            req.header.set(ACCESS_HEADER, writer[ACCESS_HEADER] as string);
            return next(req);
          },
        ],
      }),
    );
    const kinds: string[] = [];
    for await (const m of client.downloadAttachment({ name: "attachments/1" }))
      kinds.push(m.payload.case ?? "");
    expect(kinds).toEqual(["attachment", "chunk"]);
  });

  it("oversize and broken envelopes: the router's codes", async () => {
    const huge = toBinary(
      GetTaskRequestSchema,
      create(GetTaskRequestSchema, { name: "x".repeat(100 * 1024) }),
    );
    for (const protocol of ["connect-proto", "grpc-web", "grpc"] as const) {
      const a = await call(fast.base, protocol, { raw: huge }, writer);
      const b = await call(router.base, protocol, { raw: huge }, writer);
      expect({ protocol, ...a }).toEqual({ protocol, ...b });
    }
    // A length prefix promising more than arrives.
    const lying = Buffer.concat([
      frame(new Uint8Array([0x0a, 0x01, 0x78])).subarray(0, 1),
      Buffer.from([0, 0, 0, 50, 0x0a]),
    ]);
    const viaFast = await fetch(`${fast.base}${GET_TASK}`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", ...writer },
      body: lying,
    });
    expect(Buffer.from(await viaFast.arrayBuffer()).toString()).toContain(
      `grpc-status: ${Code.InvalidArgument}`,
    );
  });
});

describe("unary fast path: rate limits", () => {
  let fast: Door;
  let router: Door;
  beforeAll(async () => {
    const limits = { ...LIMIT_DEFAULTS.test, perIdentity: { ratePerSecond: 0.001, burst: 1 } };
    const edge = (events: SecurityEvents): Partial<GatewayDeps> => ({
      edge: {
        authenticator: createAuthenticator({
          mode: "jwt",
          access: { issuer: TEAM, jwksUrl: jwks.url, audience: [AUD] },
          clockToleranceSeconds: 30,
          jwksCooldownMs: 0,
        }),
        resolveRoles: createRoleResolver(roleMap),
        events,
        limits,
      },
    });
    const fastEvents = createSecurityEvents({ logger });
    const routerEvents = createSecurityEvents({ logger });
    fast = await startGateway(edge(fastEvents));
    router = await startGateway({ ...edge(routerEvents), unaryFastPath: false });
    fast = { ...fast, events: fastEvents };
    router = { ...router, events: routerEvents };
  });
  afterAll(async () => {
    await stop(fast);
    await stop(router);
  });

  it("RESOURCE_EXHAUSTED with RetryInfo per protocol, and a security event, like the router", async () => {
    const headers = { [ACCESS_HEADER]: await token("writer@example.com") };
    for (const door of [fast, router])
      expect((await call(door.base, "connect-json", "tasks/1", headers)).status).toBe(200);
    for (const protocol of PROTOCOLS) {
      const a = await call(fast.base, protocol, "tasks/1", headers);
      const b = await call(router.base, protocol, "tasks/1", headers);
      if (protocol === "grpc") {
        expect([a.grpc?.status, detailTypes(a)]).toEqual([
          String(Code.ResourceExhausted),
          ["google.rpc.ErrorInfo", "google.rpc.RetryInfo"],
        ]);
        expect([b.grpc?.status, detailTypes(b)]).toEqual([
          String(Code.ResourceExhausted),
          ["google.rpc.ErrorInfo", "google.rpc.RetryInfo"],
        ]);
      } else if (protocol === "grpc-web") {
        for (const x of [a, b]) {
          expect(codeOf(protocol, x)).toBe(String(Code.ResourceExhausted));
          expect(x.body).toContain("grpc-status-details-bin");
        }
      } else {
        // The retry delay is computed per call: compare all but its value.
        const strip = (x: Answer) => {
          const j = JSON.parse(x.body) as { details: { type: string }[] };
          return {
            status: x.status,
            code: (j as unknown as { code: string }).code,
            types: j.details.map((d) => d.type),
          };
        };
        expect(strip(a)).toEqual(strip(b));
        expect(strip(a)).toEqual({
          status: 429,
          code: "resource_exhausted",
          types: ["google.rpc.ErrorInfo", "google.rpc.RetryInfo"],
        });
      }
    }
    expect(fast.events.total("rate_limited")).toBe(router.events.total("rate_limited"));
  });
});
