import type { AddressInfo } from "node:net";
import { connect as netConnect } from "node:net";
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { ConfigError } from "@taskmaster/config/config";
import { ErrorInfoSchema, RetryInfoSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { createIdentitySigner, IDENTITY_HEADER } from "@taskmaster/rpc-kit/identity";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestDatabase } from "@taskmaster/testing/test-database";
import { generateKeyPair, SignJWT } from "jose";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCESS_HEADER, createAuthenticator } from "./authn.js";
import { createRoleResolver, type Role, requiredRole, roleMapSchema, rpcPath } from "./authz.js";
import type { EdgeLimits } from "./edge.js";
import {
  ALL_SERVICES,
  type JwksServer,
  type RsaKey,
  rsaKey,
  signToken,
  startJwksServer,
  startUpstream,
  type Upstream,
} from "./edge.test-util.js";
import { listenGateway } from "./gateway.test-util.js";
import { LIMIT_DEFAULTS, loadGatewayConfig } from "./gateway-config.js";
import { createSecurityEvents, type SecurityEvents } from "./security-events.js";
import { createGatewayServer, type Gateway, type GatewayDeps } from "./server.js";

const logger = createLogger({ service: "test", level: "silent" });
const TEAM = "https://test-team.cloudflareaccess.com";
const AUD = "aud-tag-0123456789abcdef";
const BEARER_ISS = "https://auth.internal.example";
const BEARER_AUD = "taskmaster-gateway";

const roleMap = roleMapSchema.parse({
  emails: {
    "reader@example.com": ["reader"],
    "writer@example.com": ["writer"],
    "admin@example.com": ["admin"],
  },
  groups: { ops: ["admin"] },
  services: { "ci-bot.access": ["writer"], "internal-indexer": ["reader"] },
});

interface Env {
  jwks: JwksServer;
  bearerJwks: JwksServer;
  key1: RsaKey;
  bearerKey: RsaKey;
  upstream: Upstream;
  signIdentity: ReturnType<typeof createIdentitySigner>;
}

let env: Env;

async function startGateway(
  overrides: Partial<GatewayDeps> & { limits?: Partial<EdgeLimits>; events?: SecurityEvents } = {},
): Promise<{ gateway: Gateway; baseUrl: string; events: SecurityEvents }> {
  const events = overrides.events ?? createSecurityEvents({ logger });
  const gateway = createGatewayServer({
    logger,
    upstreams: ALL_SERVICES.map((service) => ({ service, address: env.upstream.address })),
    maxTimeoutMs: 10_000,
    readMaxBytes: 64 * 1024,
    signer: env.signIdentity,
    edge: {
      authenticator: createAuthenticator({
        mode: "jwt",
        access: { issuer: TEAM, jwksUrl: env.jwks.url, audience: [AUD] },
        bearer: { issuer: BEARER_ISS, jwksUrl: env.bearerJwks.url, audience: [BEARER_AUD] },
        clockToleranceSeconds: 30,
        jwksCooldownMs: 0,
      }),
      resolveRoles: createRoleResolver(roleMap),
      events,
      limits: { ...LIMIT_DEFAULTS.test, ...overrides.limits },
    },
    ...overrides,
  });
  return { gateway, baseUrl: `http://127.0.0.1:${await listenGateway(gateway)}`, events };
}

async function stop(g: { gateway: Gateway } | undefined) {
  if (g === undefined) return;
  g.gateway.closeAllConnections();
  await new Promise((resolve) => g.gateway.server.close(resolve));
  g.gateway.close();
}

const access = (email: string, extra: Record<string, unknown> = {}) =>
  signToken({
    key: env.key1,
    issuer: TEAM,
    audience: [AUD],
    claims: { email, sub: `id-${email}`, ...extra },
  });

function taskClient(baseUrl: string, headers: Record<string, string> = {}, web = false) {
  const options = {
    baseUrl,
    httpVersion: "1.1" as const,
    interceptors: [
      (next: Parameters<import("@connectrpc/connect").Interceptor>[0]) =>
        async (req: Parameters<Parameters<import("@connectrpc/connect").Interceptor>[0]>[0]) => {
          for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
          return next(req);
        },
    ],
  };
  return createClient(TaskService, web ? createGrpcWebTransport(options) : createConnectTransport(options));
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "OK" as const,
    (e) => ConnectError.from(e),
  );

beforeAll(async () => {
  const key1 = await rsaKey("key-1");
  const bearerKey = await rsaKey("bearer-1");
  const jwks = await startJwksServer([key1.jwk]);
  const bearerJwks = await startJwksServer([bearerKey.jwk]);
  const identity = await generateKeyPair("EdDSA");
  const upstream = await startUpstream(logger, identity.publicKey);
  env = {
    jwks,
    bearerJwks,
    key1,
    bearerKey,
    upstream,
    signIdentity: createIdentitySigner(identity.privateKey),
  };
});
afterAll(async () => {
  await env?.upstream.server.shutdown(1_000);
  await env?.jwks.close();
  await env?.bearerJwks.close();
});

describe("authentication: every bad credential is a bare UNAUTHENTICATED and a security event", () => {
  let g: Awaited<ReturnType<typeof startGateway>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
    g = await startGateway({ events: createSecurityEvents({ logger, databaseUrl: db.url }) });
  });
  afterAll(async () => {
    await stop(g);
    await g?.events.close();
    await db?.drop();
  });

  it("a valid Access JWT passes (header and CF_Authorization cookie)", async () => {
    const token = await access("reader@example.com");
    const viaHeader = await taskClient(g.baseUrl, { [ACCESS_HEADER]: token }).getTask({ name: "tasks/x" });
    expect(JSON.parse(viaHeader.task?.title ?? "{}").verified.subject).toBe("reader@example.com");
    const viaCookie = await taskClient(g.baseUrl, { cookie: `a=b; CF_Authorization=${token}` }).getTask({
      name: "tasks/x",
    });
    expect(JSON.parse(viaCookie.task?.title ?? "{}").verified.subject).toBe("reader@example.com");
  });

  it("a valid bearer token from the internal issuer passes", async () => {
    const token = await signToken({
      key: env.bearerKey,
      issuer: BEARER_ISS,
      audience: BEARER_AUD,
      claims: { sub: "internal-indexer" },
    });
    const res = await taskClient(g.baseUrl, { authorization: `Bearer ${token}` }).getTask({
      name: "tasks/x",
    });
    expect(JSON.parse(res.task?.title ?? "{}").verified).toEqual({
      subject: "internal-indexer",
      type: "service",
      roles: ["reader"],
    });
  });

  it("refuses expired, early, wrong aud/iss, unknown kid, tampered, alg none, HS256, missing and garbage", async () => {
    const k = env.key1;
    const claims = { email: "admin@example.com" };
    const valid = await signToken({ key: k, issuer: TEAM, audience: AUD, claims });
    const [h, p, s] = valid.split(".") as [string, string, string];
    const flip = (c: string) => (c === "A" ? "B" : "A");
    const mid = Math.floor(s.length / 2);
    const tampered = `${h}.${p}.${s.slice(0, mid)}${flip(s[mid] as string)}${s.slice(mid + 1)}`;
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const body = b64({ iss: TEAM, aud: [AUD], email: "admin@example.com", iat: now, exp: now + 300 });
    const algNone = `${b64({ alg: "none", kid: k.kid })}.${body}.`;
    const publicPem = Buffer.from(JSON.stringify(k.jwk));
    const hs256 = await new SignJWT({ email: "admin@example.com" })
      .setProtectedHeader({ alg: "HS256", kid: k.kid })
      .setIssuer(TEAM)
      .setAudience(AUD)
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(new Uint8Array(publicPem));
    const stranger = await rsaKey("key-unknown");
    const cases: Record<string, Record<string, string>> = {
      expired: {
        [ACCESS_HEADER]: await signToken({ key: k, issuer: TEAM, audience: AUD, claims, expiresIn: -120 }),
      },
      notYetValid: {
        [ACCESS_HEADER]: await signToken({ key: k, issuer: TEAM, audience: AUD, claims, notBefore: 120 }),
      },
      wrongAudience: {
        [ACCESS_HEADER]: await signToken({ key: k, issuer: TEAM, audience: "other-app", claims }),
      },
      wrongIssuer: {
        [ACCESS_HEADER]: await signToken({
          key: k,
          issuer: "https://evil.cloudflareaccess.com",
          audience: AUD,
          claims,
        }),
      },
      unknownKid: {
        [ACCESS_HEADER]: await signToken({ key: stranger, issuer: TEAM, audience: AUD, claims }),
      },
      knownKidWrongKey: {
        [ACCESS_HEADER]: await signToken({ key: stranger, kid: k.kid, issuer: TEAM, audience: AUD, claims }),
      },
      tampered: { [ACCESS_HEADER]: tampered },
      algNone: { [ACCESS_HEADER]: algNone },
      hs256WithPublicKey: { [ACCESS_HEADER]: hs256 },
      missing: {},
      garbage: { [ACCESS_HEADER]: "garbage" },
      garbageDots: { [ACCESS_HEADER]: "a.b.c" },
      garbageBearer: { authorization: "Bearer" },
      accessTokenAsBearer: { authorization: `Bearer ${valid}` },
    };
    const before = g.events.total("authentication_failed");
    for (const [name, headers] of Object.entries(cases)) {
      const error = await codeOf(taskClient(g.baseUrl, headers).getTask({ name: "tasks/x" }));
      expect(error, name).toBeInstanceOf(ConnectError);
      const e = error as ConnectError;
      expect([name, Code[e.code]]).toEqual([name, Code[Code.Unauthenticated]]);
      // Nothing that helps an attacker: one fixed message, no details, same for every case.
      expect([name, e.rawMessage, e.details.length]).toEqual([name, "unauthenticated", 0]);
    }
    const n = Object.keys(cases).length;
    expect(g.events.total("authentication_failed") - before).toBe(n);
    const reasons = [...g.events.counts().keys()];
    expect(reasons).toEqual(
      expect.arrayContaining([
        "authentication_failed:expired",
        "authentication_failed:not_yet_valid",
        "authentication_failed:bad_claims",
        "authentication_failed:unknown_key",
        "authentication_failed:bad_signature",
        "authentication_failed:bad_algorithm",
        "authentication_failed:missing_credentials",
        "authentication_failed:malformed_token",
      ]),
    );
    // The gateway has a database URL: the same events are rows in security_events.
    await g.events.flush();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>(
        "select count(*) as n from security_events where kind = 'authentication_failed'",
      );
      expect(Number(rows[0]?.n)).toBe(g.events.total("authentication_failed"));
      // Each row keeps its reason in `detail`: the stored counts by reason are the recorder's.
      const byReason = await client.query<{ key: string; n: string }>(
        `select kind || ':' || (detail->>'reason') as key, count(*) as n from security_events
          where kind = 'authentication_failed' group by 1`,
      );
      expect(new Map(byReason.rows.map((r) => [r.key, Number(r.n)]))).toEqual(
        new Map([...g.events.counts()].filter(([k]) => k.startsWith("authentication_failed:"))),
      );
    } finally {
      await client.end();
    }
  });

  it("gRPC-Web callers get the same UNAUTHENTICATED", async () => {
    const error = await codeOf(
      taskClient(g.baseUrl, { [ACCESS_HEADER]: "garbage" }, true).getTask({ name: "x" }),
    );
    expect((error as ConnectError).code).toBe(Code.Unauthenticated);
  });

  it("rotated keys: a token from a newly published key passes after the JWKS refresh; a removed key fails", async () => {
    const key2 = await rsaKey("key-2");
    const fetchesBefore = env.jwks.fetches;
    env.jwks.keys = [env.key1.jwk, key2.jwk]; // Cloudflare publishes the new key, old one still valid
    const t2 = await signToken({
      key: key2,
      issuer: TEAM,
      audience: AUD,
      claims: { email: "writer@example.com" },
    });
    const ok = await taskClient(g.baseUrl, { [ACCESS_HEADER]: t2 }).getTask({ name: "tasks/x" });
    expect(JSON.parse(ok.task?.title ?? "{}").verified.subject).toBe("writer@example.com");
    expect(env.jwks.fetches).toBeGreaterThan(fetchesBefore);
    // Old key still accepted during the overlap.
    expect(
      await codeOf(
        taskClient(g.baseUrl, { [ACCESS_HEADER]: await access("reader@example.com") }).getTask({ name: "x" }),
      ),
    ).toBe("OK");
    env.jwks.keys = [key2.jwk]; // old key retired
    const stale = await codeOf(
      taskClient(g.baseUrl, {
        [ACCESS_HEADER]: await signToken({
          key: await rsaKey("key-3"),
          issuer: TEAM,
          audience: AUD,
          claims: {},
        }),
      }).getTask({ name: "x" }),
    );
    expect((stale as ConnectError).code).toBe(Code.Unauthenticated);
    env.jwks.keys = [env.key1.jwk, key2.jwk];
  });
});

describe("JWKS refresh on unknown kid is rate limited", () => {
  it("a burst of tokens with unknown kids refetches the certs at most once per cooldown", async () => {
    const key = await rsaKey("only");
    const jwks = await startJwksServer([key.jwk]);
    try {
      const auth = createAuthenticator({
        mode: "jwt",
        access: { issuer: TEAM, jwksUrl: jwks.url, audience: [AUD] },
        jwksCooldownMs: 3_600_000,
      });
      const good = await signToken({ key, issuer: TEAM, audience: AUD, claims: { email: "a@example.com" } });
      expect((await auth.authenticate(new Headers({ [ACCESS_HEADER]: good }))).subject).toBe("a@example.com");
      const afterFirst = jwks.fetches;
      const stranger = await rsaKey("x");
      for (let i = 0; i < 20; i++) {
        const t = await signToken({
          key: stranger,
          kid: `random-${i}`,
          issuer: TEAM,
          audience: AUD,
          claims: {},
        });
        await expect(auth.authenticate(new Headers({ [ACCESS_HEADER]: t }))).rejects.toMatchObject({
          reason: "unknown_key",
        });
      }
      expect(jwks.fetches - afterFirst).toBeLessThanOrEqual(1);
    } finally {
      await jwks.close();
    }
  });
});

describe("service tokens and roles", () => {
  let g: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => {
    g = await startGateway();
  });
  afterAll(() => stop(g));

  it("an Access service-token JWT (common_name) becomes a service identity with its configured roles", async () => {
    const token = await signToken({
      key: env.key1,
      issuer: TEAM,
      audience: [AUD],
      claims: { common_name: "ci-bot.access", sub: "" },
    });
    const res = await taskClient(g.baseUrl, { [ACCESS_HEADER]: token }).getTask({ name: "tasks/x" });
    expect(JSON.parse(res.task?.title ?? "{}").verified).toEqual({
      subject: "ci-bot.access",
      type: "service",
      roles: ["writer"],
    });
  });

  it("groups map to roles", async () => {
    const token = await access("someone@example.com", { groups: ["ops"] });
    const res = await taskClient(g.baseUrl, { [ACCESS_HEADER]: token }).getTask({ name: "tasks/x" });
    expect(JSON.parse(res.task?.title ?? "{}").verified.roles).toEqual(["admin"]);
  });

  it("client-supplied x-taskmaster-* headers never reach services; the signed identity does", async () => {
    const forged = await createIdentitySigner((await generateKeyPair("EdDSA")).privateKey).sign(
      { subject: "root", type: "user", roles: ["admin"], teams: [] },
      TaskService.typeName,
    );
    const res = await taskClient(g.baseUrl, {
      [ACCESS_HEADER]: await access("reader@example.com"),
      "x-taskmaster-actor": "root",
      "x-taskmaster-roles": "admin",
      [IDENTITY_HEADER]: forged,
    }).getTask({ name: "tasks/x" });
    const seen = JSON.parse(res.task?.title ?? "{}");
    expect(seen).toEqual({
      actor: "reader@example.com",
      roles: "reader",
      identityHeader: null,
      verified: { subject: "reader@example.com", type: "user", roles: ["reader"] },
    });
  });
});

describe("authorization matrix: every RPC x every role, through the real gateway", () => {
  let g: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => {
    g = await startGateway();
  });
  afterAll(() => stop(g));

  type Column = Role | "none" | "unauthenticated";
  const columns: Column[] = ["unauthenticated", "none", "reader", "writer", "admin"];
  const rank: Record<Role, number> = { reader: 1, writer: 2, admin: 3 };

  async function invoke(baseUrl: string, method: DescMethod, headers: Record<string, string>): Promise<Code> {
    const client = createClient(
      method.parent,
      createConnectTransport({
        baseUrl,
        httpVersion: "1.1",
        interceptors: [
          (next) => async (req) => {
            for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
            return next(req);
          },
        ],
      }),
    ) as unknown as Record<string, (input: unknown) => unknown>;
    const fn = client[method.localName] as (input: unknown) => unknown;
    try {
      switch (method.methodKind) {
        case "unary":
          await fn({});
          break;
        case "server_streaming":
          for await (const _ of fn({}) as AsyncIterable<unknown>) break;
          break;
        case "client_streaming":
          await fn((async function* () {})());
          break;
        case "bidi_streaming":
          for await (const _ of fn((async function* () {})()) as AsyncIterable<unknown>) break;
          break;
      }
      return Code.Unknown; // the upstream implements nothing in the matrix: success is unexpected
    } catch (e) {
      return ConnectError.from(e).code;
    }
  }

  it("allows exactly the RPCs each role may call (reads for reader, writes for writer, admin RPCs for admin)", async () => {
    const tokens: Record<Exclude<Column, "unauthenticated">, string> = {
      none: await access("nobody@example.com"),
      reader: await access("reader@example.com"),
      writer: await access("writer@example.com"),
      admin: await access("admin@example.com"),
    };
    const methods = ALL_SERVICES.flatMap((s) => s.methods).filter(
      (m) => m.name !== "GetTask" && m.name !== "WatchTasks",
    );
    expect(methods.length).toBeGreaterThan(100);
    const mismatches: string[] = [];
    const counts = { reader: 0, writer: 0, admin: 0 };
    for (const method of methods) {
      const needed = requiredRole(method);
      counts[needed]++;
      for (const column of columns) {
        const headers: Record<string, string> =
          column === "unauthenticated" ? {} : { [ACCESS_HEADER]: tokens[column] };
        const expected =
          column === "unauthenticated"
            ? Code.Unauthenticated
            : column !== "none" && rank[column] >= rank[needed]
              ? Code.Unimplemented // let through: the upstream answered
              : Code.PermissionDenied;
        const got = await invoke(g.baseUrl, method, headers);
        if (got !== expected)
          mismatches.push(`${rpcPath(method)} as ${column}: ${Code[got]} != ${Code[expected]}`);
      }
    }
    expect(mismatches).toEqual([]);
    // The policy is derived from the contracts: reads exist, writes exist, and Audit is admin-only.
    expect(counts.reader).toBeGreaterThan(30);
    expect(counts.writer).toBeGreaterThan(30);
    expect(requiredRole(ALL_SERVICES[3]?.methods[0] as DescMethod)).toBe("admin");
    expect(g.events.total("permission_denied")).toBeGreaterThan(0);
  });
});

describe("abuse limits", () => {
  it("per-identity token bucket: RESOURCE_EXHAUSTED with RetryInfo", async () => {
    const g = await startGateway({ limits: { perIdentity: { ratePerSecond: 0.01, burst: 2 } } });
    try {
      const c = taskClient(g.baseUrl, { [ACCESS_HEADER]: await access("reader@example.com") });
      expect(await codeOf(c.getTask({ name: "x" }))).toBe("OK");
      expect(await codeOf(c.getTask({ name: "x" }))).toBe("OK");
      const e = (await codeOf(c.getTask({ name: "x" }))) as ConnectError;
      expect(e.code).toBe(Code.ResourceExhausted);
      const retry = e.findDetails(RetryInfoSchema)[0];
      expect(Number(retry?.retryDelay?.seconds ?? 0n)).toBeGreaterThan(0);
      expect(e.findDetails(ErrorInfoSchema)[0]?.reason).toBe("RATE_LIMITED");
      // Another identity is not affected.
      const other = taskClient(g.baseUrl, { [ACCESS_HEADER]: await access("writer@example.com") });
      expect(await codeOf(other.getTask({ name: "x" }))).toBe("OK");
      expect(g.events.total("rate_limited")).toBe(1);
    } finally {
      await stop(g);
    }
  });

  it("per-IP bucket uses CF-Connecting-IP only from a trusted proxy", async () => {
    const token = await access("reader@example.com");
    const trusted = await startGateway({
      trustedProxies: ["127.0.0.0/8"],
      limits: { perIp: { ratePerSecond: 0.01, burst: 1 } },
    });
    const untrusted = await startGateway({
      trustedProxies: ["10.0.0.0/8"],
      limits: { perIp: { ratePerSecond: 0.01, burst: 1 } },
    });
    try {
      const from = (base: string, ip: string) =>
        codeOf(taskClient(base, { [ACCESS_HEADER]: token, "cf-connecting-ip": ip }).getTask({ name: "x" }));
      // Through the tunnel: each client IP has its own bucket.
      expect(await from(trusted.baseUrl, "203.0.113.5")).toBe("OK");
      expect(((await from(trusted.baseUrl, "203.0.113.5")) as ConnectError).code).toBe(
        Code.ResourceExhausted,
      );
      expect(await from(trusted.baseUrl, "203.0.113.6")).toBe("OK");
      // Not from the proxy: the header is ignored, the peer address is the key.
      expect(await from(untrusted.baseUrl, "203.0.113.5")).toBe("OK");
      expect(((await from(untrusted.baseUrl, "203.0.113.6")) as ConnectError).code).toBe(
        Code.ResourceExhausted,
      );
    } finally {
      await stop(trusted);
      await stop(untrusted);
    }
  });

  it("total concurrency limit: a call beyond it is RESOURCE_EXHAUSTED; capacity returns after the first ends", async () => {
    const g = await startGateway({ limits: { maxInFlight: 1 } });
    try {
      const token = await access("reader@example.com");
      const c = taskClient(g.baseUrl, { [ACCESS_HEADER]: token });
      const started = env.upstream.watchStarted();
      const abort = new AbortController();
      const holding = (async () => {
        try {
          for await (const _ of c.watchTasks({}, { signal: abort.signal })) {
            /* held open by the upstream */
          }
        } catch {
          /* cancelled */
        }
      })();
      await started;
      const e = (await codeOf(c.getTask({ name: "x" }))) as ConnectError;
      expect(e.code).toBe(Code.ResourceExhausted);
      const ended = env.upstream.watchEnded();
      abort.abort();
      await holding;
      // The gateway releases the slot when it sees the client go away, before it cancels the upstream call.
      await ended;
      expect(await codeOf(c.getTask({ name: "x" }))).toBe("OK");
    } finally {
      await stop(g);
    }
  });

  it("refuses bad JSON, bad protobuf, wrong content type and oversize bodies cleanly and keeps serving", async () => {
    const g = await startGateway();
    try {
      const token = await access("writer@example.com");
      const url = `${g.baseUrl}/taskmaster.task.v1.TaskService/CreateTask`;
      const post = (contentType: string, body: string | Uint8Array) =>
        fetch(url, {
          method: "POST",
          headers: { "content-type": contentType, [ACCESS_HEADER]: token },
          body,
        });
      const badJson = await post("application/json", "{not json");
      expect(badJson.status).toBe(400);
      // Undecodable binary bodies are the client's fault (parse-errors.ts), and the connection stays usable.
      const badProto = await post("application/proto", new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
      expect(badProto.status).toBe(400);
      expect(((await badProto.json()) as { code: string }).code).toBe("invalid_argument");
      const wrongType = await post("text/plain", "hello");
      expect(wrongType.status).toBe(415);
      const huge = await post(
        "application/json",
        JSON.stringify({ task: { title: "x".repeat(100 * 1024) } }),
      );
      expect(huge.ok).toBe(false);
      const garbageHttp = await new Promise<string>((resolve) => {
        const socket = netConnect((g.gateway.server.address() as AddressInfo).port, "127.0.0.1", () =>
          socket.write("NOT-HTTP\r\n\r\n"),
        );
        let data = "";
        socket.on("data", (d) => {
          data += d.toString();
        });
        socket.on("close", () => resolve(data));
      });
      expect(garbageHttp).toMatch(/^HTTP\/1\.1 400/);
      const c = taskClient(g.baseUrl, { [ACCESS_HEADER]: token });
      expect(await codeOf(c.getTask({ name: "x" }))).toBe("OK");
    } finally {
      await stop(g);
    }
  });

  it("a slowloris body (headers sent, body trickling) is cut by the request timeout; the gateway keeps serving", async () => {
    const g = await startGateway({
      http: { requestTimeoutMs: 300, headersTimeoutMs: 200, checkIntervalMs: 50 },
    });
    try {
      const port = (g.gateway.server.address() as AddressInfo).port;
      const answer = await new Promise<string>((resolve) => {
        const socket = netConnect(port, "127.0.0.1", () => {
          socket.write(
            "POST /taskmaster.task.v1.TaskService/GetTask HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{",
          );
        });
        let data = "";
        socket.on("data", (d) => {
          data += d.toString();
        });
        socket.on("error", () => {});
        socket.on("close", () => resolve(data));
      });
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
      expect(g.events.total("suspicious_input")).toBeGreaterThan(0);
      const c = taskClient(g.baseUrl, { [ACCESS_HEADER]: await access("reader@example.com") });
      expect(await codeOf(c.getTask({ name: "x" }))).toBe("OK");
    } finally {
      await stop(g);
    }
  });

  it("CORS: allowed origins get preflight and response headers, others do not", async () => {
    const g = await startGateway({ corsOrigins: ["https://app.example.com"] });
    try {
      const url = `${g.baseUrl}/taskmaster.task.v1.TaskService/GetTask`;
      const preflight = (origin: string) =>
        fetch(url, {
          method: "OPTIONS",
          headers: {
            origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,connect-protocol-version",
          },
        });
      const ok = await preflight("https://app.example.com");
      expect(ok.status).toBe(204);
      expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
      expect(ok.headers.get("access-control-allow-headers")).toMatch(/Cf-Access-Jwt-Assertion/i);
      const bad = await preflight("https://evil.example.com");
      expect(bad.status).toBe(403);
      expect(bad.headers.get("access-control-allow-origin")).toBeNull();
      const res = await fetch(url, {
        method: "POST",
        headers: {
          origin: "https://app.example.com",
          "content-type": "application/json",
          [ACCESS_HEADER]: await access("reader@example.com"),
        },
        body: JSON.stringify({ name: "tasks/x" }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    } finally {
      await stop(g);
    }
  });
});

describe("configuration", () => {
  const base = { DATABASE_URL: "postgres://u:p@db:5432/taskmaster" };
  it("the production profile refuses GATEWAY_AUTH=none with one clear line", () => {
    let error: unknown;
    try {
      loadGatewayConfig({ ...base, TASKMASTER_PROFILE: "production", GATEWAY_AUTH: "none" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.split("\n")).toHaveLength(1);
    expect(message).toContain("GATEWAY_AUTH must not be none in the production profile");
  });

  it("development accepts GATEWAY_AUTH=none; jwt without issuers is refused", () => {
    expect(loadGatewayConfig({ TASKMASTER_PROFILE: "development", GATEWAY_AUTH: "none" }).authn.mode).toBe(
      "none",
    );
    expect(() => loadGatewayConfig({ TASKMASTER_PROFILE: "development" })).toThrow(/no issuer is configured/);
  });

  it("Access settings, role map, limits per profile", () => {
    const c = loadGatewayConfig(
      {
        ...base,
        TASKMASTER_PROFILE: "production",
        CF_ACCESS_TEAM_DOMAIN: TEAM,
        CF_ACCESS_AUD: AUD,
        GATEWAY_IDENTITY_KEY_FILE: "/keys/identity.pem",
        GATEWAY_ROLE_MAP: JSON.stringify({ emails: { "a@example.com": ["admin"] } }),
        GATEWAY_RATE_PER_IP: "5",
      },
      () => "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n",
    );
    expect(c.authn.access).toEqual({
      issuer: TEAM,
      jwksUrl: `${TEAM}/cdn-cgi/access/certs`,
      audience: [AUD],
    });
    expect(c.roleMap.emails).toEqual({ "a@example.com": ["admin"] });
    expect(c.limits.perIp.ratePerSecond).toBe(5);
    expect(c.limits.perIdentity).toEqual(LIMIT_DEFAULTS.production.perIdentity);
    expect(() =>
      loadGatewayConfig({
        ...base,
        TASKMASTER_PROFILE: "production",
        CF_ACCESS_TEAM_DOMAIN: TEAM,
        CF_ACCESS_AUD: AUD,
      }),
    ).toThrow(/GATEWAY_IDENTITY_KEY_FILE is required in the production profile/);
  });
});
