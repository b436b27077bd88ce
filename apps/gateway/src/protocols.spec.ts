/**
 * Every protocol on the gateway's one listener, with real sockets and a real grpc-js upstream: native gRPC
 * (HTTP/2 cleartext and TLS, @connectrpc/connect-node and grpc-js clients) for unary, server-streaming and
 * client-streaming calls with authentication enforced; Connect JSON and gRPC-Web over HTTP/1.1 and HTTP/2.
 */
import { connect as http2Connect } from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { createGrpcJsTransport } from "@taskmaster/rpc-kit/grpc-client";
import {
  createGrpcServer,
  type GrpcServer,
  partialServiceRegistration,
} from "@taskmaster/rpc-kit/grpc-server";
import { ACTOR_HEADER } from "@taskmaster/rpc-kit/identity";
import { channelCredentials } from "@taskmaster/rpc-kit/tls";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestCertificates, type TestCertificates } from "@taskmaster/testing/test-certs";
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
import { createSecurityEvents } from "./security-events.js";
import { createGatewayServer, type Gateway, type GatewayDeps } from "./server.js";

const logger = createLogger({ service: "test", level: "silent" });
const TEAM = "https://test-team.cloudflareaccess.com";
const AUD = "aud-tag-protocols";
const roleMap = roleMapSchema.parse({ emails: { "writer@example.com": ["writer"] } });

let jwks: JwksServer;
let key: RsaKey;
let upstream: GrpcServer;
let upstreamAddress: string;
let certs: TestCertificates;

/** GetTask answers with the actor it saw; DownloadAttachment streams 3 chunks; UploadAttachment counts bytes. */
async function startUpstream(): Promise<void> {
  upstream = createGrpcServer({
    logger,
    services: [
      partialServiceRegistration(TaskService, {
        getTask(req, ctx) {
          return { task: { name: req.name, title: ctx.requestHeader.get(ACTOR_HEADER) ?? "" } };
        },
        async *downloadAttachment(req) {
          yield { payload: { case: "attachment", value: { name: req.name } } };
          for (let i = 0; i < 3; i++)
            yield { payload: { case: "chunk", value: new Uint8Array(1000).fill(i) } };
        },
        async uploadAttachment(requests) {
          let bytes = 0;
          let name = "";
          for await (const r of requests) {
            if (r.payload.case === "metadata") name = r.payload.value.parent;
            if (r.payload.case === "chunk") bytes += r.payload.value.byteLength;
          }
          return { attachment: { name, sizeBytes: BigInt(bytes) } };
        },
      }),
      ...ALL_SERVICES.slice(1).map((s) => partialServiceRegistration(s, {})),
    ],
    reflection: false,
  });
  upstreamAddress = (await upstream.listen("127.0.0.1", 0)).address;
}

async function startGateway(
  overrides: Partial<GatewayDeps> = {},
): Promise<{ gateway: Gateway; port: number }> {
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
      events: createSecurityEvents({ logger }),
      limits: LIMIT_DEFAULTS.test,
    },
    ...overrides,
  });
  await new Promise<void>((resolve) => gateway.server.listen(0, "127.0.0.1", resolve));
  return { gateway, port: (gateway.server.address() as AddressInfo).port };
}

async function stop(g: { gateway: Gateway }): Promise<void> {
  g.gateway.closeAllConnections();
  await new Promise((resolve) => g.gateway.server.close(resolve));
  g.gateway.close();
}

const withHeaders =
  (headers: Record<string, string>): Interceptor =>
  (next) =>
  (req) => {
    for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
    return next(req);
  };

const token = () =>
  signToken({
    key,
    issuer: TEAM,
    audience: [AUD],
    claims: { email: "writer@example.com", sub: "id-writer" },
  });

const errorCode = (p: Promise<unknown>) =>
  p.then(
    () => "OK" as const,
    (e) => Code[ConnectError.from(e).code],
  );

/** Unary, server-streaming and client-streaming through the gateway with one transport, plus auth refusal. */
async function exerciseAllKinds(transport: (headers: Record<string, string>) => Transport): Promise<void> {
  const anonymous = createClient(TaskService, transport({}));
  expect(await errorCode(anonymous.getTask({ name: "tasks/x" }))).toBe("Unauthenticated");

  const client = createClient(TaskService, transport({ [ACCESS_HEADER]: await token() }));
  const got = await client.getTask({ name: "tasks/1" });
  expect(got.task?.title).toBe("writer@example.com");

  const chunks: number[] = [];
  for await (const m of client.downloadAttachment({ name: "attachments/1" })) {
    if (m.payload.case === "chunk") chunks.push(m.payload.value.byteLength);
  }
  expect(chunks).toEqual([1000, 1000, 1000]);

  async function* upload() {
    yield { payload: { case: "metadata" as const, value: { parent: "tasks/1" } } };
    for (let i = 0; i < 4; i++) yield { payload: { case: "chunk" as const, value: new Uint8Array(500) } };
  }
  const uploaded = await client.uploadAttachment(upload());
  expect(uploaded.attachment).toMatchObject({ name: "tasks/1", sizeBytes: 2000n });
}

beforeAll(async () => {
  key = await rsaKey("key-p");
  jwks = await startJwksServer([key.jwk]);
  certs = await createTestCertificates();
  await startUpstream();
});
afterAll(async () => {
  await upstream?.shutdown(1_000);
  await jwks?.close();
});

describe("gateway protocols on one cleartext listener", () => {
  let g: { gateway: Gateway; port: number };
  let baseUrl: string;
  beforeAll(async () => {
    g = await startGateway();
    baseUrl = `http://127.0.0.1:${g.port}`;
  });
  afterAll(() => stop(g));

  it("native gRPC (h2c prior knowledge, connect-node): unary, server- and client-streaming, auth enforced", async () => {
    await exerciseAllKinds((h) => createGrpcTransport({ baseUrl, interceptors: [withHeaders(h)] }));
  });

  it("native gRPC with a grpc-js client (rpc-kit transport)", async () => {
    const transports: ReturnType<typeof createGrpcJsTransport>[] = [];
    try {
      await exerciseAllKinds((h) => {
        const t = createGrpcJsTransport({ address: `127.0.0.1:${g.port}`, interceptors: [withHeaders(h)] });
        transports.push(t);
        return t;
      });
    } finally {
      for (const t of transports) t.close();
    }
  });

  for (const httpVersion of ["1.1", "2"] as const) {
    it(`Connect JSON, Connect binary and gRPC-Web over HTTP/${httpVersion}`, async () => {
      await exerciseAllKinds((h) =>
        createConnectTransport({ baseUrl, httpVersion, interceptors: [withHeaders(h)] }),
      );
      await exerciseAllKinds((h) =>
        createConnectTransport({
          baseUrl,
          httpVersion,
          useBinaryFormat: true,
          interceptors: [withHeaders(h)],
        }),
      );
      await exerciseAllKinds((h) =>
        createGrpcWebTransport({ baseUrl, httpVersion, interceptors: [withHeaders(h)] }),
      );
    });
  }

  it("/health answers over HTTP/2 too", async () => {
    const session = http2Connect(baseUrl);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ":path": "/health", ":method": "GET" });
        stream.on("response", (headers) => resolve(Number(headers[":status"])));
        stream.on("error", reject);
        stream.resume();
      });
      expect(status).toBe(200);
    } finally {
      session.close();
    }
  });
});

describe("gateway protocols over TLS (ALPN h2 + http/1.1)", () => {
  let g: { gateway: Gateway; port: number };
  let baseUrl: string;
  beforeAll(async () => {
    g = await startGateway({ tls: certs.server });
    baseUrl = `https://localhost:${g.port}`;
  });
  afterAll(() => stop(g));

  it("native gRPC over TLS: connect-node and grpc-js clients", async () => {
    await exerciseAllKinds((h) =>
      createGrpcTransport({ baseUrl, nodeOptions: { ca: certs.ca.cert }, interceptors: [withHeaders(h)] }),
    );
    const t = createGrpcJsTransport({
      address: `localhost:${g.port}`,
      credentials: channelCredentials({ ca: certs.ca.cert }),
      interceptors: [withHeaders({ [ACCESS_HEADER]: await token() })],
    });
    try {
      const got = await createClient(TaskService, t).getTask({ name: "tasks/2" });
      expect(got.task?.title).toBe("writer@example.com");
    } finally {
      t.close();
    }
  });

  for (const httpVersion of ["1.1", "2"] as const) {
    it(`Connect and gRPC-Web over HTTPS/${httpVersion}`, async () => {
      const nodeOptions = { ca: certs.ca.cert };
      await exerciseAllKinds((h) =>
        createConnectTransport({ baseUrl, httpVersion, nodeOptions, interceptors: [withHeaders(h)] }),
      );
      await exerciseAllKinds((h) =>
        createGrpcWebTransport({ baseUrl, httpVersion, nodeOptions, interceptors: [withHeaders(h)] }),
      );
    });
  }
});

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** One raw HTTP/2 request (h2c) with the headers and trailers merged into one record. */
function h2Request(baseUrl: string, headers: Record<string, string>, body: Uint8Array): Promise<RawAnswer> {
  const session = http2Connect(baseUrl);
  return new Promise<RawAnswer>((resolve, reject) => {
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

/** A gRPC / gRPC-Web data frame around `payload`; `declared` lets the length prefix lie. */
function frame(payload: Uint8Array, declared = payload.byteLength): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(declared, 1);
  return Buffer.concat([head, payload]);
}

/** The trailer frame of a gRPC-Web response body as a record. */
function grpcWebTrailers(body: Buffer): Record<string, string> {
  let offset = 0;
  while (offset + 5 <= body.length) {
    const flags = body[offset] ?? 0;
    const length = body.readUInt32BE(offset + 1);
    const data = body.subarray(offset + 5, offset + 5 + length);
    offset += 5 + length;
    if ((flags & 0x80) !== 0) {
      return Object.fromEntries(
        data
          .toString()
          .split("\r\n")
          .filter((l) => l.includes(":"))
          .map((l) => [l.slice(0, l.indexOf(":")).trim().toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
      );
    }
  }
  return {};
}

// Not a protobuf message: field 31 with the reserved wire type 7, then a truncated varint.
const GARBAGE = new Uint8Array([0xff, 0x01, 0xff, 0xff, 0xff, 0xff]);

describe("malformed requests on every protocol", () => {
  let g: { gateway: Gateway; port: number };
  let baseUrl: string;
  let auth: Record<string, string>;
  beforeAll(async () => {
    g = await startGateway();
    baseUrl = `http://127.0.0.1:${g.port}`;
    auth = { [ACCESS_HEADER]: await token() };
  });
  afterAll(() => stop(g));

  const getTask = "/taskmaster.task.v1.TaskService/GetTask";
  const download = "/taskmaster.task.v1.TaskService/DownloadAttachment";
  const upload = "/taskmaster.task.v1.TaskService/UploadAttachment";
  const post = (
    path: string,
    contentType: string,
    body: Uint8Array | string,
    extra: Record<string, string> = {},
  ) =>
    fetch(`${baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": contentType, ...auth, ...extra },
      body,
    });

  it("Connect: bad JSON and undecodable binary are INVALID_ARGUMENT (400), wrong type 415, oversize RESOURCE_EXHAUSTED", async () => {
    const badJson = await post(getTask, "application/json", "{not json");
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as { code: string }).code).toBe("invalid_argument");

    const badProto = await post(getTask, "application/proto", GARBAGE);
    expect(badProto.status).toBe(400);
    const error = (await badProto.json()) as { code: string; message: string };
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toMatch(/^invalid request message: not a valid protobuf binary encoding/);

    const wrongType = await post(getTask, "text/plain", "hello");
    expect(wrongType.status).toBe(415);

    const huge = await post(getTask, "application/json", JSON.stringify({ name: "x".repeat(100 * 1024) }));
    expect(((await huge.json()) as { code: string }).code).toBe("resource_exhausted");
  });

  it("gRPC-Web: a garbage frame is INVALID_ARGUMENT, a lying length prefix too, wrong type 415, oversize RESOURCE_EXHAUSTED", async () => {
    const web = (body: Uint8Array, contentType = "application/grpc-web+proto") =>
      post(getTask, contentType, body, { "x-grpc-web": "1" });
    const garbage = await web(frame(GARBAGE));
    const trailers = grpcWebTrailers(Buffer.from(await garbage.arrayBuffer()));
    expect(trailers["grpc-status"]).toBe(String(Code.InvalidArgument));
    expect(decodeURIComponent(trailers["grpc-message"] ?? "")).toMatch(
      /not a valid protobuf binary encoding/,
    );

    const short = await web(frame(new Uint8Array([0x0a, 0x01, 0x78]), 50));
    expect(grpcWebTrailers(Buffer.from(await short.arrayBuffer()))["grpc-status"]).toBe(
      String(Code.InvalidArgument),
    );

    const badJson = await web(frame(Buffer.from("{not json")), "application/grpc-web+json");
    expect(grpcWebTrailers(Buffer.from(await badJson.arrayBuffer()))["grpc-status"]).toBe(
      String(Code.InvalidArgument),
    );

    expect((await web(frame(GARBAGE), "application/grpc-web+xml")).status).toBe(415);

    const huge = await web(frame(new Uint8Array(100 * 1024)));
    expect(grpcWebTrailers(Buffer.from(await huge.arrayBuffer()))["grpc-status"]).toBe(
      String(Code.ResourceExhausted),
    );
  });

  it("native gRPC: garbage in unary, server- and client-streaming calls is INVALID_ARGUMENT; wrong type 415; oversize RESOURCE_EXHAUSTED", async () => {
    const grpc = (path: string, body: Uint8Array, contentType = "application/grpc") =>
      h2Request(baseUrl, { ":path": path, "content-type": contentType, te: "trailers", ...auth }, body);
    for (const path of [getTask, download, upload]) {
      const answer = await grpc(path, frame(GARBAGE));
      expect({ path, status: answer.headers["grpc-status"] }).toEqual({
        path,
        status: String(Code.InvalidArgument),
      });
    }
    const short = await grpc(getTask, frame(new Uint8Array([0x0a, 0x01, 0x78]), 50));
    expect(short.headers["grpc-status"]).toBe(String(Code.InvalidArgument));

    const badJson = await grpc(getTask, frame(Buffer.from("{not json")), "application/grpc+json");
    expect(badJson.headers["grpc-status"]).toBe(String(Code.InvalidArgument));

    expect((await grpc(getTask, frame(GARBAGE), "application/grpc+xml")).status).toBe(415);

    const huge = await grpc(getTask, frame(new Uint8Array(100 * 1024)));
    expect(huge.headers["grpc-status"]).toBe(String(Code.ResourceExhausted));

    // And the gateway still serves.
    const client = createClient(
      TaskService,
      createGrpcTransport({ baseUrl, interceptors: [withHeaders(auth)] }),
    );
    expect((await client.getTask({ name: "tasks/3" })).task?.name).toBe("tasks/3");
  });

  it("an RPC request without a usable Host header is a 400, not a crash", async () => {
    const { connect } = await import("node:net");
    const ask = (hostLine: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(g.port, "127.0.0.1", () =>
          socket.write(
            `POST ${getTask} HTTP/1.0\r\n${hostLine}content-type: application/json\r\ncontent-length: 2\r\n\r\n{}`,
          ),
        );
        let data = "";
        socket.on("data", (d) => {
          data += d.toString();
        });
        socket.on("error", () => {});
        socket.on("close", () => resolve(data));
      });
    expect(await ask("")).toMatch(/^HTTP\/1\.1 400/);
    expect(await ask("host: bad host name\r\n")).toMatch(/^HTTP\/1\.1 400/);
    const client = createClient(TaskService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
    expect(await errorCode(client.getTask({ name: "tasks/5" }))).toBe("Unauthenticated");
  });

  it("HTTP/2 garbage after the preface drops that connection only", async () => {
    const { connect } = await import("node:net");
    const closed = await new Promise<boolean>((resolve) => {
      const socket = connect(g.port, "127.0.0.1", () => {
        socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        socket.write(Buffer.alloc(64, 0xff));
      });
      socket.on("error", () => {});
      socket.on("close", () => resolve(true));
      socket.resume();
    });
    expect(closed).toBe(true);
    const client = createClient(
      TaskService,
      createConnectTransport({ baseUrl, httpVersion: "2", interceptors: [withHeaders(auth)] }),
    );
    expect((await client.getTask({ name: "tasks/4" })).task?.name).toBe("tasks/4");
  });
});

describe("slow clients on HTTP/2 and before the first byte", () => {
  let g: { gateway: Gateway; port: number };
  let events: ReturnType<typeof createSecurityEvents>;
  beforeAll(async () => {
    events = createSecurityEvents({ logger });
    g = await startGateway({
      http: { requestTimeoutMs: 300, headersTimeoutMs: 200, checkIntervalMs: 50 },
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
    });
  });
  afterAll(() => stop(g));

  it("an HTTP/2 stream whose body trickles is cancelled by the request timeout; the session keeps serving", async () => {
    const baseUrl = `http://127.0.0.1:${g.port}`;
    const session = http2Connect(baseUrl);
    try {
      const rstCode = await new Promise<number>((resolve) => {
        const stream = session.request({
          ":method": "POST",
          ":path": "/taskmaster.task.v1.TaskService/GetTask",
          "content-type": "application/grpc",
          te: "trailers",
          [ACCESS_HEADER]: "x",
        });
        stream.on("error", () => {});
        stream.on("close", () => resolve(stream.rstCode));
        stream.write(Buffer.from([0, 0, 0, 0, 100])); // promises 100 bytes, never sends them
        stream.resume();
      });
      expect(rstCode).toBe(8); // NGHTTP2_CANCEL
      expect(events.total("suspicious_input")).toBeGreaterThan(0);
      const health = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ":path": "/health" });
        stream.on("response", (h) => resolve(Number(h[":status"])));
        stream.on("error", reject);
        stream.resume();
      });
      expect(health).toBe(200);
    } finally {
      session.close();
    }
  });

  it("a connection that never sends a byte is dropped after the headers timeout", async () => {
    const { connect } = await import("node:net");
    const closed = await new Promise<boolean>((resolve) => {
      const socket = connect(g.port, "127.0.0.1");
      socket.on("error", () => {});
      socket.on("close", () => resolve(true));
      socket.resume();
    });
    expect(closed).toBe(true);
  });
});
