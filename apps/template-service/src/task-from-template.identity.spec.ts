/**
 * Service-to-service identity over real sockets, real keys and real PostgreSQL: the caller's gateway-signed
 * identity reaches TaskService through template-service as a token template-service signs with ITS OWN
 * Ed25519 key (`act: {sub: "template-service"}`), over mTLS. Both servers are configured exactly as the
 * runtime configures them: environment -> `serviceSecuritySchema` -> `serverSecurityFromConfig` /
 * `outboundSecurityFromConfig` (key and certificate files written here), with identity REQUIRED on both.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { loadConfig, resolveProfile } from "@taskmaster/config/config";
import { serviceSecuritySchema } from "@taskmaster/config/service-security";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { seedDatabase } from "@taskmaster/persistence/seed";
import { Health, HealthCheckResponse_ServingStatus } from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { createGrpcJsTransport, type GrpcJsTransport } from "@taskmaster/rpc-kit/grpc-client";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import {
  createIdentitySigner,
  IDENTITY_HEADER,
  type IdentitySigner,
  importIdentitySigningKey,
  type VerifiedIdentity,
} from "@taskmaster/rpc-kit/identity";
import type { OutboundSecurity } from "@taskmaster/rpc-kit/outbound";
import { channelCredentials } from "@taskmaster/rpc-kit/tls";
import {
  outboundSecurityFromConfig,
  serverSecurityFromConfig,
} from "@taskmaster/service-runtime/database-service";
import { createServer as createTaskServer } from "@taskmaster/task-service/server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestCertificates, type TestCertificates } from "@taskmaster/testing/test-certs";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniq } from "./harness.test-util.js";
import { makeTemplate } from "./render.test-util.js";
import type { TemplateGrpcServer } from "./render.wiring.js";
import { createServer } from "./server.js";

const logger = createLogger({ service: "tft-identity-test", level: "silent" });
const read = (path: string) => readFileSync(path, "utf8");
const ALICE: VerifiedIdentity = { subject: "alice@example.com", type: "user", roles: ["writer"], teams: [] };

let db: TestDatabase;
let orm: MikroORM;
let dir: string;
let certs: TestCertificates;
let files: ReturnType<TestCertificates["writeTo"]>;
let taskServer: GrpcServer;
let taskAddress: string;
/** template-service with identity required and delegation on, reaching task-service over mTLS. */
let templateServer: TemplateGrpcServer;
let templatePort: number;
/**
 * template-service that does not verify its own callers (no gateway key: its authorization trusts the plain
 * actor header, as in development) but has the delegation signer: what a client sends must not be delegated.
 */
let optionalServer: TemplateGrpcServer;
let optionalPort: number;
/** The gateway's signer (the test plays the gateway) and template-service's own, from its key file. */
let gateway: IdentitySigner;
let templateKeySigner: IdentitySigner;
/** Every delegated token template-service minted (counting wrapper around the real signer). */
const minted: { subject: string; audience: string }[] = [];
/** Headers of every outgoing TaskService call of the optional server, as sent. */
const sent: Headers[] = [];
/** Delegations task-service accepted (its onDelegated hook, which the runtime logs). */
const accepted: string[] = [];
const transports: GrpcJsTransport[] = [];

/** A fresh Ed25519 key pair as PEM (SPKI public, PKCS#8 private). */
const ed25519 = () =>
  generateKeyPairSync("ed25519", {
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });

async function writeKeyPair(name: string): Promise<{ pub: string; key: string }> {
  const pair = ed25519();
  const pub = join(dir, `${name}.pub.pem`);
  const key = join(dir, `${name}.key.pem`);
  writeFileSync(pub, pair.publicKey);
  writeFileSync(key, pair.privateKey);
  return { pub, key };
}

const securityOf = (env: Record<string, string>) =>
  loadConfig(serviceSecuritySchema(resolveProfile(env)), env, { service: "test" }).service;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskmaster-delegation-"));
  certs = await createTestCertificates();
  files = certs.writeTo(dir);
  const gatewayKeys = await writeKeyPair("gateway");
  const templateKeys = await writeKeyPair("template-service");
  gateway = createIdentitySigner(await importIdentitySigningKey(read(gatewayKeys.key)));
  templateKeySigner = createIdentitySigner(await importIdentitySigningKey(read(templateKeys.key)), {
    service: "template-service",
  });

  db = await createTestDatabase();
  orm = (await initOrm({ url: db.url, pool: { min: 0, max: 8 } })) as MikroORM;
  await seedDatabase(orm, { demo: false });

  // task-service: mTLS, identity required, trusts the gateway and template-service.
  const taskSecurity = securityOf({
    TASKMASTER_PROFILE: "test",
    GRPC_TLS_CERT_FILE: files.server,
    GRPC_TLS_KEY_FILE: files.serverKey,
    GRPC_TLS_CLIENT_CA_FILE: files.ca,
    TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: gatewayKeys.pub,
    TASKMASTER_IDENTITY_REQUIRED: "true",
    TASKMASTER_IDENTITY_TRUSTED_KEYS: `template-service=${templateKeys.pub}`,
  });
  taskServer = createTaskServer({
    orm,
    logger,
    security: await serverSecurityFromConfig(taskSecurity, read, undefined, (id) =>
      accepted.push(`${id.subject} via ${id.actors?.join(">")}`),
    ),
  });
  taskAddress = (await taskServer.listen("127.0.0.1", 0)).address;

  // template-service: plaintext listener, identity required (gateway key only), delegation key and mTLS
  // client settings for its outgoing channel.
  const templateEnv = {
    TASKMASTER_PROFILE: "test",
    TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: gatewayKeys.pub,
    TASKMASTER_IDENTITY_REQUIRED: "true",
    TASKMASTER_IDENTITY_SIGNING_KEY_FILE: templateKeys.key,
    GRPC_CLIENT_TLS_CA_FILE: files.ca,
    GRPC_CLIENT_TLS_CERT_FILE: files.client,
    GRPC_CLIENT_TLS_KEY_FILE: files.clientKey,
    GRPC_CLIENT_TLS_SERVER_NAME: "localhost",
  };
  const templateSecurity = securityOf(templateEnv);
  const outbound = await outboundSecurityFromConfig(templateSecurity, read, {
    name: "template-service",
    delegatesIdentity: true,
  });
  const signer = outbound.signer as IdentitySigner;
  const counting: OutboundSecurity = {
    ...outbound,
    signer: {
      sign(identity, audience) {
        minted.push({ subject: identity.subject, audience });
        return signer.sign(identity, audience);
      },
    },
  };
  templateServer = createServer({
    orm,
    logger,
    outbound: counting,
    taskServiceAddress: taskAddress,
    security: await serverSecurityFromConfig(templateSecurity, read),
  });
  templatePort = (await templateServer.listen("127.0.0.1", 0)).port;

  // The same without verification of its callers; its TaskService transport records the headers it sends.
  const {
    TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: _,
    TASKMASTER_IDENTITY_REQUIRED: __,
    ...unverifiedEnv
  } = templateEnv;
  const unverified = await serverSecurityFromConfig(securityOf(unverifiedEnv), read);
  const record: Interceptor = (next) => async (req) => {
    sent.push(new Headers(req.header));
    return next(req);
  };
  const recorded = createGrpcJsTransport({
    address: taskAddress,
    credentials: counting.channel?.credentials,
    channelOptions: counting.channel?.channelOptions,
    interceptors: [record],
  });
  transports.push(recorded);
  optionalServer = createServer({
    orm,
    logger,
    outbound: counting,
    taskService: recorded,
    security: unverified,
  });
  optionalPort = (await optionalServer.listen("127.0.0.1", 0)).port;
});

afterAll(async () => {
  await templateServer?.shutdown(1_000);
  await optionalServer?.shutdown(1_000);
  for (const t of transports) t.close();
  await taskServer?.shutdown(1_000);
  await orm?.close(true);
  await db?.drop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** A TemplateService client on `port` sending `headers` with every call. */
function templateClient(
  port: number,
  headers: () => Promise<Record<string, string>>,
): Client<typeof TemplateService> {
  const transport = createGrpcJsTransport({
    address: `127.0.0.1:${port}`,
    defaultTimeoutMs: 10_000,
    interceptors: [
      (next) => async (req) => {
        for (const [k, v] of Object.entries(await headers())) req.header.set(k, v);
        return next(req);
      },
    ],
  });
  transports.push(transport);
  return createClient(TemplateService, transport);
}

/** A client as the gateway would call template-service for `who`. */
const viaGateway = (who: VerifiedIdentity) =>
  templateClient(templatePort, async () => ({
    [IDENTITY_HEADER]: await gateway.sign(who, TemplateService.typeName),
  }));

/** A TaskService client talking to task-service directly (mTLS client certificate, no gateway). */
function directTaskClient(tls = true): Client<typeof TaskService> {
  const transport = createGrpcJsTransport({
    address: taskAddress,
    credentials: channelCredentials(
      tls ? { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key } : undefined,
    ),
    channelOptions: { "grpc.ssl_target_name_override": "localhost" },
    defaultTimeoutMs: 10_000,
  });
  transports.push(transport);
  return createClient(TaskService, transport);
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "OK",
    (e: unknown) => Code[ConnectError.from(e).code],
  );

async function taskTemplate(client: Client<typeof TemplateService>) {
  return makeTemplate(client, {
    slug: uniq("idt"),
    templateType: "templateTypes/task_template",
    content: "## {{feature_name}}",
    variables: [{ name: "feature_name", required: true }],
    parameters: { title: "Delegated" },
  });
}

describe("CreateTaskFromTemplate with delegated identity (identity required on both services, mTLS between)", () => {
  it("creates the task as the original caller: reporter and audit actor are alice, act names template-service", async () => {
    const alice = viaGateway(ALICE);
    const t = await taskTemplate(alice);
    const mintedBefore = minted.length;
    const acceptedBefore = accepted.length;
    const res = await alice.createTaskFromTemplate({
      name: t.name,
      inputs: { feature_name: "Login" },
      task: { title: "From a template, as alice" },
    });
    expect(res.task?.reporter).toBe("alice@example.com");
    expect(minted.slice(mintedBefore)).toEqual([
      { subject: "alice@example.com", audience: TaskService.typeName },
    ]);
    expect(accepted.slice(acceptedBefore)).toEqual(["alice@example.com via template-service"]);
    const id = /^tasks\/(.+)$/.exec(res.task?.name ?? "")?.[1];
    const rows: { action: string; actor: string | null }[] = await orm.em
      .getConnection()
      .execute(
        `select action, actor from audit_log where entity_type = 'task' and entity_id = ? order by seq`,
        [id],
      );
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map((r) => r.actor)).toEqual(rows.map(() => "alice@example.com"));
  });

  it("a call to template-service without a gateway token is UNAUTHENTICATED and mints nothing", async () => {
    const t = await taskTemplate(viaGateway(ALICE));
    const before = minted.length;
    const anonymous = templateClient(templatePort, async () => ({
      "x-taskmaster-actor": "alice@example.com",
    }));
    expect(
      await codeOf(anonymous.createTaskFromTemplate({ name: t.name, inputs: { feature_name: "x" } })),
    ).toBe("Unauthenticated");
    expect(minted.length).toBe(before);
  });

  it("an unverified caller is never delegated: a client-sent actor header mints no token and is not passed on", async () => {
    // The unverified server's authorization accepts the plain actor header, so the handler runs and calls
    // TaskService; a forged token from an untrusted key rides along.
    const client = templateClient(optionalPort, async () => ({ "x-taskmaster-actor": "alice@example.com" }));
    const t = await taskTemplate(client);
    const before = minted.length;
    const sentBefore = sent.length;
    const attacker = await importIdentitySigningKey(ed25519().privateKey);
    const forged = await createIdentitySigner(attacker).sign(ALICE, TemplateService.typeName);
    const res = client.createTaskFromTemplate(
      { name: t.name, inputs: { feature_name: "x" } },
      { headers: { [IDENTITY_HEADER]: forged } },
    );
    // Anonymous at task-service, which requires an identity.
    expect(await codeOf(res)).toBe("Unauthenticated");
    expect(minted.length).toBe(before);
    const out = sent.slice(sentBefore);
    expect(out).toHaveLength(1);
    expect(out[0]?.get(IDENTITY_HEADER)).toBeNull();
    expect(out[0]?.get("x-taskmaster-actor")).toBeNull();
  });

  it("task-service refuses template-service's key for another audience, and a forged delegated token", async () => {
    const tasks = directTaskClient();
    const create = (token: string) =>
      codeOf(tasks.createTask({ task: { title: "direct" } }, { headers: { [IDENTITY_HEADER]: token } }));
    // Control: template-service's real key for TaskService works directly, so the refusals below are real.
    expect(await create(await templateKeySigner.sign(ALICE, TaskService.typeName))).toBe("OK");
    expect(await create(await templateKeySigner.sign(ALICE, TemplateService.typeName))).toBe(
      "Unauthenticated",
    );
    const attacker = await importIdentitySigningKey(ed25519().privateKey);
    const forger = createIdentitySigner(attacker, { service: "template-service" });
    expect(await create(await forger.sign(ALICE, TaskService.typeName))).toBe("Unauthenticated");
    // No token at all, with forged plain headers.
    expect(
      await codeOf(
        tasks.createTask(
          { task: { title: "forged" } },
          { headers: { "x-taskmaster-actor": "alice@example.com", "x-taskmaster-roles": "admin" } },
        ),
      ),
    ).toBe("Unauthenticated");
  });

  it("task-service speaks only TLS, while grpc.health.v1 answers over mTLS without an identity", async () => {
    expect(await codeOf(directTaskClient(false).listTasks({ pageSize: 1 }))).toBe("Unavailable");
    const transport = createGrpcJsTransport({
      address: taskAddress,
      credentials: channelCredentials({ ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key }),
      channelOptions: { "grpc.ssl_target_name_override": "localhost" },
      defaultTimeoutMs: 5_000,
    });
    transports.push(transport);
    const health = await createClient(Health, transport).check({ service: TaskService.typeName });
    expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });
});

describe("outbound security from config", () => {
  it("requires template-service's signing key when identity is required, and rejects a bad one in one line", async () => {
    const base = { TASKMASTER_PROFILE: "test", TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: "/gw.pub" };
    const service = { name: "template-service", delegatesIdentity: true };
    await expect(
      outboundSecurityFromConfig(
        securityOf({ ...base, TASKMASTER_IDENTITY_REQUIRED: "true" }),
        read,
        service,
      ),
    ).rejects.toThrow(
      /^invalid configuration: TASKMASTER_IDENTITY_SIGNING_KEY_FILE is required for template-service/,
    );
    // Not needed by a service that does not delegate, nor when identity is optional.
    expect(
      (
        await outboundSecurityFromConfig(
          securityOf({ ...base, TASKMASTER_IDENTITY_REQUIRED: "true" }),
          read,
          {
            name: "task-service",
            delegatesIdentity: false,
          },
        )
      ).signer,
    ).toBeUndefined();
    expect((await outboundSecurityFromConfig(securityOf(base), read, service)).signer).toBeUndefined();
    await expect(
      outboundSecurityFromConfig(
        securityOf({ ...base, TASKMASTER_IDENTITY_SIGNING_KEY_FILE: files.serverKey }),
        read,
        service,
      ),
    ).rejects.toThrow(/TASKMASTER_IDENTITY_SIGNING_KEY_FILE is not an Ed25519 private key/);
    await expect(
      outboundSecurityFromConfig(
        securityOf({ ...base, GRPC_CLIENT_TLS_CA_FILE: join(dir, "missing.pem") }),
        read,
        service,
      ),
    ).rejects.toThrow(/GRPC_CLIENT_TLS_CA_FILE cannot be read \(ENOENT\)/);
  });
});
