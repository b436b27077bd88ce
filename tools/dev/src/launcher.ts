#!/usr/bin/env node
/**
 * Development launcher: brings the whole stack up with one command.
 *
 * 1. PostgreSQL: `DATABASE_URL` when given, else embedded PostgreSQL with its data in `.data/postgres`.
 * 2. Migrations (`tools/db migrate up`), then the demo seed on an empty database, as the owner
 *    (`MIGRATION_DATABASE_URL`, else `DATABASE_URL`; embedded: its superuser).
 *    Embedded: the services then connect as the login user `taskmaster_service` (taskmaster_app + taskmaster_monitor,
 *    a fresh random password each start) and audit retention as the owner; with your own `DATABASE_URL`
 *    they use it as given.
 * 3. Each service as its own process, started in order and waited for (gRPC health / HTTP health).
 * 4. Ctrl-C (SIGINT) or SIGTERM stops everything in reverse order and exits 0.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startEmbeddedPostgres } from "@taskmaster/testing/embedded";
import { ensureDatabase } from "./database.js";
import { developmentIdentityEnv } from "./dev-identity.js";
import { type Member, startMember, stopMember } from "./member.js";
import { stack } from "./stack.js";

const root = join(import.meta.dirname, "..", "..", "..");

const usage = `Usage: ./taskmaster start [options]

Starts PostgreSQL (embedded unless DATABASE_URL is set), applies migrations, seeds demo data on a
new database, then starts task, template and monitoring services and the gateway. Ctrl-C stops all.

Options:
  --no-seed            do not load demo data into an empty database
  --pg-port <port>     port of the embedded PostgreSQL (default 54329, env TASKMASTER_PG_PORT)
  --data-dir <dir>     embedded PostgreSQL data directory (default .data/postgres)
  --host <host>        interface the services listen on (default 127.0.0.1)
  -h, --help           show this help

Ports: TASK_SERVICE_PORT (50051), TEMPLATE_SERVICE_PORT (50052), MONITORING_SERVICE_PORT (50053),
GATEWAY_PORT (8080). Other settings pass through the environment (see README).`;

function log(message: string): void {
  process.stderr.write(`[launcher] ${message}\n`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      "no-seed": { type: "boolean", default: false },
      "pg-port": { type: "string", default: process.env.TASKMASTER_PG_PORT ?? "54329" },
      "data-dir": { type: "string", default: join(root, ".data", "postgres") },
      host: { type: "string", default: "127.0.0.1" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }

  const abort = new AbortController();
  const running: Member[] = [];
  let stopEmbedded: (() => Promise<void>) | undefined;
  let stopping = false;
  let exitCode = 0;

  const shutdown = async (reason: string, code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    abort.abort();
    log(`${reason}: stopping ${running.length} process(es)`);
    for (const member of [...running].reverse()) await stopMember(member, 10_000);
    if (stopEmbedded) {
      log("stopping embedded PostgreSQL");
      await stopEmbedded();
    }
    log("stopped");
  };
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        log(`${signal} again: exiting now`);
        process.exit(130);
      }
      void shutdown(signal, 0).then(resolve);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    abort.signal.addEventListener("abort", () => {
      if (!stopping) resolve();
    });
  });

  try {
    let databaseUrl = process.env.DATABASE_URL;
    let ownerUrl = process.env.MIGRATION_DATABASE_URL || databaseUrl;
    let serviceEnv: NodeJS.ProcessEnv = {};
    if (databaseUrl) {
      log("using DATABASE_URL");
      if (!ownerUrl) throw new Error("unreachable: DATABASE_URL is set");
      await runTool(["migrate", "up"], ownerUrl, abort.signal);
      if (!values["no-seed"]) await runTool(["seed"], ownerUrl, abort.signal);
    } else {
      const port = Number(values["pg-port"]);
      log(`starting embedded PostgreSQL on 127.0.0.1:${port} (data in ${values["data-dir"]})`);
      const embedded = await startEmbeddedPostgres({ dataDir: values["data-dir"], port, persistent: true });
      stopEmbedded = embedded.stop;
      ownerUrl = await ensureDatabase(embedded.url, "taskmaster");
      await runTool(["migrate", "up"], ownerUrl, abort.signal);
      if (!values["no-seed"]) await runTool(["seed"], ownerUrl, abort.signal);
      // Least privilege locally too: the services run as a taskmaster_app login, not the superuser.
      const password = randomBytes(18).toString("base64url");
      await runTool(
        [
          "roles",
          "grant",
          "--role",
          "app,monitor",
          "--user",
          SERVICE_USER,
          "--password-env",
          "TASKMASTER_SERVICE_DB_PASSWORD",
        ],
        ownerUrl,
        abort.signal,
        { TASKMASTER_SERVICE_DB_PASSWORD: password },
      );
      const service = new URL(ownerUrl);
      service.username = SERVICE_USER;
      service.password = password;
      databaseUrl = service.toString();
      serviceEnv = {
        MIGRATION_DATABASE_URL: ownerUrl,
        // Retention drops audit partitions: the owner's job, never the application role's.
        AUDIT_RETENTION_DATABASE_URL: process.env.AUDIT_RETENTION_DATABASE_URL || ownerUrl,
      };
    }

    const ports = new Map(stack.map((spec) => [spec, Number(process.env[spec.portEnv] ?? spec.defaultPort)]));
    const profile = process.env.TASKMASTER_PROFILE ?? "development";
    // The local stack has no Cloudflare Access in front of it: the gateway runs without authentication unless
    // told otherwise (GATEWAY_AUTH=jwt + CF_ACCESS_* / GATEWAY_BEARER_*); staging/production refuse "none".
    const gatewayAuth = process.env.GATEWAY_AUTH ?? (profile === "development" ? "none" : "jwt");
    if (gatewayAuth === "none")
      log("gateway authentication is OFF (development); set GATEWAY_AUTH=jwt to enable it");
    // Development: signed identities as in production (keys in .data/dev-identity) unless keys are given.
    const identityEnv =
      profile === "development" && !process.env.GATEWAY_IDENTITY_KEY_FILE
        ? developmentIdentityEnv(join(root, ".data", "dev-identity"))
        : {};
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...identityEnv,
      ...serviceEnv,
      DATABASE_URL: databaseUrl,
      TASKMASTER_PROFILE: profile,
      GATEWAY_AUTH: gatewayAuth,
      ...Object.fromEntries(stack.map((spec) => [spec.addressEnv, `${values.host}:${ports.get(spec)}`])),
    };
    const addresses: string[] = [];
    for (const spec of stack) {
      if (stopping) break;
      const port = ports.get(spec) ?? spec.defaultPort;
      const member = await startMember(spec, {
        root,
        host: values.host,
        port,
        env,
        signal: abort.signal,
        onExit: (code) => {
          if (!stopping) void shutdown(`${spec.name} exited unexpectedly (${code})`, 1);
        },
      });
      running.push(member);
      addresses.push(`  ${spec.name.padEnd(44)} ${member.address}`);
    }
    if (!stopping) {
      process.stdout.write(
        `\nTaskmaster is up:\n${addresses.join("\n")}\n  ${"PostgreSQL (services)".padEnd(44)} ${redact(databaseUrl)}\n  ${"PostgreSQL (migrations, owner)".padEnd(44)} ${redact(ownerUrl)}\n\nCtrl-C stops everything.\n`,
      );
    }
  } catch (error) {
    await shutdown(`start failed: ${(error as Error).message}`, 1);
    return 1;
  }
  await stopped;
  return exitCode;
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
}

/** The embedded stack's service login (group roles taskmaster_app and taskmaster_monitor). */
const SERVICE_USER = "taskmaster_service";

/** Runs `tools/db` as the owner (`ownerUrl` as both DATABASE_URL and MIGRATION_DATABASE_URL). */
async function runTool(
  args: string[],
  ownerUrl: string,
  signal: AbortSignal,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<void> {
  const { spawn } = await import("node:child_process");
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "tools/db/dist/db.js"), ...args], {
      cwd: root,
      stdio: "inherit",
      env: { ...process.env, ...extraEnv, DATABASE_URL: ownerUrl, MIGRATION_DATABASE_URL: ownerUrl },
      signal,
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`db ${args.join(" ")} failed (${code})`)),
    );
  });
}

process.exitCode = await main();
