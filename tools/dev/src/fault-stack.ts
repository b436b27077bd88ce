/**
 * The real stack for fault injection: embedded PostgreSQL (its own process group, durable), migrations, a
 * service login, the four members under the supervisor (restart with backoff), and a userland TCP proxy
 * between the services and PostgreSQL (for the blackhole). PostgreSQL can be restarted, stopped and started,
 * and frozen (SIGSTOP of the postmaster and every backend).
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EmbeddedPostgresHandle, freePort, startEmbeddedPostgres } from "@taskmaster/testing/embedded";
import { ensureDatabase, runDbTool } from "./database.js";
import { developmentIdentityEnv } from "./dev-identity.js";
import { signalTree } from "./proc-tree.js";
import { stack } from "./stack.js";
import { createSupervisor, type Supervisor } from "./supervisor.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

export interface FaultStack {
  readonly gateway: string;
  /** `host:port` of each member, by its name. */
  readonly addresses: ReadonlyMap<string, string>;
  readonly ownerUrl: string;
  /** The gateway's identity signing key (PEM file): callers straight to a service sign with it. */
  readonly identityKeyFile: string;
  readonly proxy: TcpProxy;
  readonly supervisor: Supervisor;
  readonly logFile: string;
  /** The current PostgreSQL server (replaced by `startDatabase`). */
  database(): EmbeddedPostgresHandle | undefined;
  stopDatabase(): Promise<void>;
  startDatabase(): Promise<void>;
  freezeDatabase(frozen: boolean): void;
  /** Every member running and PostgreSQL up. */
  allAlive(): boolean;
  /** Pid of a member's process. */
  pidOf(name: string): number | undefined;
  stop(): Promise<void>;
}

/** A port from the environment (the launcher's variables), else any free one. */
async function portFrom(value: string | undefined, offset = 0): Promise<number> {
  const port = Number(value);
  return value && Number.isInteger(port) && port > 0 ? port + offset : await freePort();
}

export async function startFaultStack(root: string, log: (m: string) => void): Promise<FaultStack> {
  const dir = mkdtempSync(join(tmpdir(), "taskmaster-faults-"));
  const logFile = join(dir, "stack.log");
  // Ports as `./taskmaster start` takes them (TASK_SERVICE_PORT ..., TASKMASTER_PG_PORT; the database proxy
  // on the PostgreSQL port + 1); unset = any free port.
  const pgPort = await portFrom(process.env.TASKMASTER_PG_PORT);
  const pgOptions = { dataDir: join(dir, "pg"), port: pgPort, persistent: true, ownProcessGroup: true };
  let database: EmbeddedPostgresHandle | undefined = await startEmbeddedPostgres(pgOptions);
  const abort = new AbortController();
  const ownerUrl = await ensureDatabase(database.url, "taskmaster");
  await runDbTool(root, ["migrate", "up"], ownerUrl, abort.signal, {}, "ignore");
  const password = randomBytes(18).toString("base64url");
  await runDbTool(
    root,
    ["roles", "grant", "--role", "app,monitor", "--user", "taskmaster_service", "--password-env", "PW"],
    ownerUrl,
    abort.signal,
    { PW: password },
    "ignore",
  );
  const proxy = await startTcpProxy(
    { host: "127.0.0.1", port: pgPort },
    await portFrom(process.env.TASKMASTER_PG_PORT, 1),
  );
  const serviceUrl = new URL(ownerUrl);
  serviceUrl.username = "taskmaster_service";
  serviceUrl.password = password;
  serviceUrl.port = String(proxy.port);
  const ports = new Map(
    await Promise.all(stack.map(async (spec) => [spec, await portFrom(process.env[spec.portEnv])] as const)),
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: serviceUrl.toString(),
    MIGRATION_DATABASE_URL: ownerUrl,
    AUDIT_RETENTION_DATABASE_URL: ownerUrl,
    TASKMASTER_PROFILE: "development",
    GATEWAY_AUTH: "none",
    // Signed caller identities as `./taskmaster start` sets them up (keys in the run's temp folder).
    ...developmentIdentityEnv(join(dir, "dev-identity")),
    LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
    ...Object.fromEntries(stack.map((spec) => [spec.addressEnv, `127.0.0.1:${ports.get(spec)}`])),
  };
  const supervisor = createSupervisor({
    root,
    host: "127.0.0.1",
    env,
    ports,
    log,
    output: (line) => appendFileSync(logFile, `${line}\n`),
    onGiveUp: (_spec, reason) => log(`supervisor gave up: ${reason}`),
  });
  try {
    // The services need only the database: started together (quicker on a busy machine), then the gateway.
    const services = stack.filter((spec) => spec.readiness === "grpc-health");
    const started = await Promise.allSettled(services.map((spec) => supervisor.start(spec)));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    for (const spec of stack.filter((spec) => spec.readiness !== "grpc-health")) await supervisor.start(spec);
  } catch (error) {
    await supervisor.stopAll();
    await database.stop();
    throw error;
  }
  const gatewaySpec = stack.find((s) => s.name === "gateway");
  return {
    gateway: `127.0.0.1:${gatewaySpec ? ports.get(gatewaySpec) : 0}`,
    addresses: new Map(stack.map((spec) => [spec.name, `127.0.0.1:${ports.get(spec)}`])),
    ownerUrl,
    identityKeyFile: String(env.GATEWAY_IDENTITY_KEY_FILE),
    proxy,
    supervisor,
    logFile,
    database: () => database,
    async stopDatabase() {
      const current = database;
      database = undefined;
      await current?.stop();
    },
    async startDatabase() {
      database = await startEmbeddedPostgres(pgOptions);
    },
    freezeDatabase(frozen) {
      if (database) signalTree(database.pid, frozen ? "SIGSTOP" : "SIGCONT");
    },
    allAlive() {
      const running = (pid: number) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      const members = stack.every((spec) => {
        const child = supervisor.member(spec)?.child;
        return child !== undefined && child.exitCode === null && child.signalCode === null;
      });
      return members && database !== undefined && running(database.pid);
    },
    pidOf(name) {
      const spec = stack.find((s) => s.name === name);
      return spec ? supervisor.member(spec)?.child.pid : undefined;
    },
    async stop() {
      abort.abort();
      await supervisor.stopAll();
      await proxy.close();
      const dataPath = database?.dataPath;
      await database?.stop();
      // The data goes (where it really is, when relocated); the members' log stays for a look after a failed run.
      if (dataPath) rmSync(dataPath, { recursive: true, force: true });
      rmSync(join(dir, "pg"), { recursive: true, force: true });
    },
  };
}
