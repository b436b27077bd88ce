/**
 * The runtime wiring end to end with the BUILT processes (`dist/main.js` of task-service and
 * template-service), configured only through their environment, as in staging: identity required on both,
 * task-service serving mTLS and trusting template-service's delegation key, template-service dialing it
 * with a client certificate and signing with its own key. A caller with a gateway-signed token creates a
 * task from a template; the task's reporter is that caller. Start-up without the delegation key fails in
 * one line. Keys and certificates are generated here; build first (`./taskmaster build`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createClient } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { seedDatabase } from "@taskmaster/persistence/seed";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { createGrpcJsTransport, type GrpcJsTransport } from "@taskmaster/rpc-kit/grpc-client";
import {
  createIdentitySigner,
  IDENTITY_HEADER,
  type IdentitySigner,
  importIdentitySigningKey,
} from "@taskmaster/rpc-kit/identity";
import { createTestCertificates } from "@taskmaster/testing/test-certs";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniq } from "./harness.test-util.js";
import { makeTemplate } from "./render.test-util.js";

const entry = (app: string) => join(import.meta.dirname, "..", "..", app, "dist", "main.js");

interface Started {
  readonly child: ChildProcess;
  readonly address: string;
  /** Parsed JSON log lines so far. */
  readonly logs: Record<string, unknown>[];
}

/** Starts a built service; resolves with its gRPC address from its "gRPC server listening" log line. */
function start(app: string, env: Record<string, string>): Promise<Started> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry(app)], {
      env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "info", HEALTH_PORT: "0", METRICS_PORT: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const logs: Record<string, unknown>[] = [];
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("exit", (code) => reject(new Error(`${app} exited (${code}): ${stderr.trim()}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      try {
        const log = JSON.parse(line) as Record<string, unknown>;
        logs.push(log);
        if (log.msg === "gRPC server listening" && typeof log.address === "string") {
          resolve({ child, address: log.address, logs });
        }
      } catch {
        // not a log line
      }
    });
  });
}

async function stop(s: Started | undefined): Promise<void> {
  if (s === undefined || s.child.exitCode !== null) return;
  s.child.removeAllListeners("exit");
  const exited = new Promise((resolve) => s.child.once("exit", resolve));
  s.child.kill("SIGTERM");
  await exited;
}

function runToExit(
  app: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry(app)], {
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

let dir: string;
let db: TestDatabase;
let task: Started | undefined;
let template: Started | undefined;
let gateway: IdentitySigner;
let templateEnv: Record<string, string>;
const transports: GrpcJsTransport[] = [];

function writeKeyPair(name: string): { pub: string; key: string } {
  const pair = generateKeyPairSync("ed25519", {
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  const pub = join(dir, `${name}.pub.pem`);
  const key = join(dir, `${name}.key.pem`);
  writeFileSync(pub, pair.publicKey);
  writeFileSync(key, pair.privateKey);
  return { pub, key };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskmaster-delegation-proc-"));
  const files = (await createTestCertificates()).writeTo(dir);
  const gatewayKeys = writeKeyPair("gateway");
  const templateKeys = writeKeyPair("template-service");
  gateway = createIdentitySigner(await importIdentitySigningKey(readFileSync(gatewayKeys.key, "utf8")));
  db = await createTestDatabase();
  const orm = (await initOrm({ url: db.url, pool: { min: 0, max: 2 } })) as MikroORM;
  await seedDatabase(orm, { demo: false });
  await orm.close(true);
  const common = {
    TASKMASTER_PROFILE: "test",
    DATABASE_URL: db.url,
    GRPC_HOST: "127.0.0.1",
    GRPC_PORT: "0",
    TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: gatewayKeys.pub,
    TASKMASTER_IDENTITY_REQUIRED: "true",
  };
  task = await start("task-service", {
    ...common,
    GRPC_TLS_CERT_FILE: files.server,
    GRPC_TLS_KEY_FILE: files.serverKey,
    GRPC_TLS_CLIENT_CA_FILE: files.ca,
    TASKMASTER_IDENTITY_TRUSTED_KEYS: `template-service=${templateKeys.pub}`,
  });
  templateEnv = {
    ...common,
    TASK_SERVICE_ADDRESS: task.address,
    TASKMASTER_IDENTITY_SIGNING_KEY_FILE: templateKeys.key,
    GRPC_CLIENT_TLS_CA_FILE: files.ca,
    GRPC_CLIENT_TLS_CERT_FILE: files.client,
    GRPC_CLIENT_TLS_KEY_FILE: files.clientKey,
    GRPC_CLIENT_TLS_SERVER_NAME: "localhost",
  };
  template = await start("template-service", templateEnv);
});

afterAll(async () => {
  for (const t of transports) t.close();
  await stop(template);
  await stop(task);
  await db?.drop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe("built template-service -> (mTLS, delegated identity) -> built task-service", () => {
  it("logs its security settings: identity required, delegation on, client mTLS; task-service trusts it", () => {
    const security = (s: Started | undefined) => s?.logs.find((l) => l.msg === "gRPC transport security");
    expect(security(template)).toMatchObject({ identity: "required", delegation: "on", clientTls: "mtls" });
    expect(security(task)).toMatchObject({
      tls: "mtls",
      identity: "required",
      trustedServices: ["template-service"],
    });
  });

  it("CreateTaskFromTemplate as alice (gateway token) creates alice's task", async () => {
    const transport = createGrpcJsTransport({
      address: template?.address ?? "",
      defaultTimeoutMs: 15_000,
      interceptors: [
        (next) => async (req) => {
          req.header.set(
            IDENTITY_HEADER,
            await gateway.sign(
              { subject: "alice@example.com", type: "user", roles: [], teams: [] },
              TemplateService.typeName,
            ),
          );
          return next(req);
        },
      ],
    });
    transports.push(transport);
    const alice = createClient(TemplateService, transport);
    const t = await makeTemplate(alice, {
      slug: uniq("proc"),
      templateType: "templateTypes/task_template",
      content: "## {{x}}",
      variables: [{ name: "x", required: true }],
      parameters: { title: "Delegated across processes" },
    });
    const res = await alice.createTaskFromTemplate({
      name: t.name,
      inputs: { x: "y" },
      task: { title: "Across processes" },
    });
    expect(res.task?.reporter).toBe("alice@example.com");
    expect(task?.logs.find((l) => l.msg === "delegated identity accepted")).toMatchObject({
      subject: "alice@example.com",
      via: ["template-service"],
      service: "taskmaster.task.v1.TaskService",
    });
  });

  it("refuses to start without its delegation key while identity is required (one line, non-zero exit)", async () => {
    const { TASKMASTER_IDENTITY_SIGNING_KEY_FILE: _, ...env } = templateEnv;
    const outcome = await runToExit("template-service", env);
    expect(outcome.code).not.toBe(0);
    const lines = outcome.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/TASKMASTER_IDENTITY_SIGNING_KEY_FILE is required for template-service/);
  });
});
