/**
 * End to end over real sockets and a real service process: client --HTTPS--> gateway (Access JWT checked,
 * identity signed with Ed25519) --mTLS--> task-service (the built `dist/main.js`, configured only through
 * its environment: GRPC_TLS_* and TASKMASTER_IDENTITY_PUBLIC_KEY_FILE with TASKMASTER_IDENTITY_REQUIRED)
 * --> PostgreSQL. Proves the runtime wiring, not just the pieces: the reporter of a task created through the
 * gateway is the gateway-verified subject, and a direct call forging `x-taskmaster-actor` is UNAUTHENTICATED.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { createGrpcJsTransport, type GrpcJsTransport } from "@taskmaster/rpc-kit/grpc-client";
import { createIdentitySigner } from "@taskmaster/rpc-kit/identity";
import { channelCredentials } from "@taskmaster/rpc-kit/tls";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestCertificates, type TestCertificates } from "@taskmaster/testing/test-certs";
import { createTestDatabase } from "@taskmaster/testing/test-database";
import { exportSPKI, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCESS_HEADER, createAuthenticator } from "./authn.js";
import { createRoleResolver, roleMapSchema } from "./authz.js";
import { type JwksServer, type RsaKey, rsaKey, signToken, startJwksServer } from "./edge.test-util.js";
import { listenGateway } from "./gateway.test-util.js";
import { LIMIT_DEFAULTS } from "./gateway-config.js";
import { createSecurityEvents } from "./security-events.js";
import { createGatewayServer, type Gateway } from "./server.js";

const logger = createLogger({ service: "test", level: "silent" });
const TEAM = "https://team.example.cloudflareaccess.com";
const AUD = "aud-tls-e2e";
const taskServiceEntry = join(import.meta.dirname, "..", "..", "task-service", "dist", "main.js");

/** Starts the built task-service; resolves with its gRPC address from its "gRPC server listening" log line. */
function startTaskService(env: Record<string, string>): Promise<{ child: ChildProcess; address: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [taskServiceEntry], {
      env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "info", HEALTH_PORT: "0", METRICS_PORT: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("exit", (code) => reject(new Error(`task-service exited (${code}): ${stderr.trim()}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; address?: string };
        if (entry.msg === "gRPC server listening" && entry.address !== undefined) {
          resolve({ child, address: entry.address });
        }
      } catch {
        // not a log line
      }
    });
  });
}

describe("HTTPS gateway -> mTLS -> task-service verifying the gateway's identity token (required)", () => {
  let certs: TestCertificates;
  let dir: string;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let service: { child: ChildProcess; address: string };
  let jwks: JwksServer;
  let key: RsaKey;
  let gateway: Gateway;
  let baseUrl: string;
  const transports: GrpcJsTransport[] = [];

  beforeAll(async () => {
    certs = await createTestCertificates();
    dir = mkdtempSync(join(tmpdir(), "taskmaster-tls-"));
    const files = certs.writeTo(dir);
    const identity = await generateKeyPair("EdDSA", { extractable: true });
    const identityPublic = join(dir, "identity.pub.pem");
    writeFileSync(identityPublic, await exportSPKI(identity.publicKey));
    db = await createTestDatabase();
    service = await startTaskService({
      TASKMASTER_PROFILE: "test",
      DATABASE_URL: db.url,
      GRPC_HOST: "127.0.0.1",
      GRPC_PORT: "0",
      GRPC_TLS_CERT_FILE: files.server,
      GRPC_TLS_KEY_FILE: files.serverKey,
      GRPC_TLS_CLIENT_CA_FILE: files.ca,
      TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: identityPublic,
      TASKMASTER_IDENTITY_REQUIRED: "true",
    });
    key = await rsaKey("k1");
    jwks = await startJwksServer([key.jwk]);
    gateway = createGatewayServer({
      logger,
      upstreams: [{ service: TaskService, address: service.address }],
      maxTimeoutMs: 10_000,
      readMaxBytes: 64 * 1024,
      signer: createIdentitySigner(identity.privateKey),
      edge: {
        authenticator: createAuthenticator({
          mode: "jwt",
          access: { issuer: TEAM, jwksUrl: jwks.url, audience: [AUD] },
          clockToleranceSeconds: 30,
          jwksCooldownMs: 0,
        }),
        resolveRoles: createRoleResolver(
          roleMapSchema.parse({ emails: { "alice@example.com": ["writer"] } }),
        ),
        events: createSecurityEvents({ logger }),
        limits: LIMIT_DEFAULTS.test,
      },
      tls: certs.server,
      upstreamTls: { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key },
    });
    baseUrl = `https://localhost:${await listenGateway(gateway)}`;
  });

  afterAll(async () => {
    for (const t of transports) t.close();
    if (gateway !== undefined) {
      gateway.closeAllConnections();
      await new Promise((resolve) => gateway.server.close(resolve));
      gateway.close();
    }
    if (service !== undefined && service.child.exitCode === null) {
      service.child.removeAllListeners("exit");
      const exited = new Promise((resolve) => service.child.once("exit", resolve));
      service.child.kill("SIGTERM");
      await exited;
    }
    await jwks?.close();
    await db?.drop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const accessToken = () =>
    signToken({
      key,
      issuer: TEAM,
      audience: [AUD],
      claims: { email: "alice@example.com", sub: "id-alice" },
    });

  it("a task created through the HTTPS gateway has the gateway-verified subject as reporter", async () => {
    const client = createClient(
      TaskService,
      createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { ca: certs.ca.cert } }),
    );
    const headers = { [ACCESS_HEADER]: await accessToken(), "x-taskmaster-actor": "mallory@example.com" };
    const { task } = await client.createTask({ task: { title: "Reported over mTLS" } }, { headers });
    expect(task?.reporter).toBe("alice@example.com");
    const web = createClient(
      TaskService,
      createGrpcWebTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { ca: certs.ca.cert } }),
    );
    const fetched = await web.getTask({ name: task?.name ?? "" }, { headers });
    expect(fetched.task?.reporter).toBe("alice@example.com");
  });

  it("a direct call with a forged x-taskmaster-actor and no token is UNAUTHENTICATED (even with a client cert)", async () => {
    const transport = createGrpcJsTransport({
      address: service.address,
      credentials: channelCredentials({ ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key }),
      defaultTimeoutMs: 5_000,
    });
    transports.push(transport);
    const error = await createClient(TaskService, transport)
      .createTask(
        { task: { title: "Forged reporter" } },
        { headers: { "x-taskmaster-actor": "alice@example.com", "x-taskmaster-roles": "admin" } },
      )
      .catch((e: unknown) => ConnectError.from(e));
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Unauthenticated);
  });

  it("the service refuses plaintext and clients without a certificate", async () => {
    for (const tls of [undefined, { ca: certs.ca.cert }]) {
      const transport = createGrpcJsTransport({
        address: service.address,
        credentials: channelCredentials(tls),
        defaultTimeoutMs: 5_000,
      });
      transports.push(transport);
      const error = await createClient(TaskService, transport)
        .listTasks({ pageSize: 1 })
        .catch((e: unknown) => ConnectError.from(e));
      expect((error as ConnectError).code).toBe(Code.Unavailable);
    }
  });

  it("the gateway answers only over TLS, and /health reaches the service over mTLS", async () => {
    const plain = await fetch(`${baseUrl.replace("https:", "http:")}/health`).catch((e: unknown) => e);
    expect(plain).toBeInstanceOf(Error);
    const { request } = await import("node:https");
    const status = await new Promise<number>((resolve, reject) => {
      request(`${baseUrl}/health`, { ca: certs.ca.cert }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on("error", reject)
        .end();
    });
    expect(status).toBe(200);
  });
});

describe("task-service start-up with bad security settings: one clear line, non-zero exit", () => {
  function runToExit(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [taskServiceEntry], {
        env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "silent", GRPC_PORT: "0", ...env },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr?.on("data", (c: Buffer) => {
        stderr += c.toString();
      });
      child.on("error", reject);
      child.on("exit", (code) => resolve({ code, stderr }));
    });
  }

  it.each([
    [
      { TASKMASTER_PROFILE: "production", DATABASE_URL: "postgres://u@127.0.0.1:1/t" },
      /TASKMASTER_IDENTITY_PUBLIC_KEY_FILE is required in the production profile/,
    ],
    [
      { TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: "/nonexistent/identity.pem" },
      /TASKMASTER_IDENTITY_PUBLIC_KEY_FILE cannot be read \(ENOENT\)/,
    ],
    [
      { GRPC_TLS_KEY_FILE: "/nonexistent/key.pem" },
      /GRPC_TLS_CERT_FILE\/GRPC_TLS_KEY_FILE must be set together/,
    ],
  ])("%o", async (env, mentions) => {
    const outcome = await runToExit(env);
    expect(outcome.code).not.toBe(0);
    const lines = outcome.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(mentions);
  });
});
