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
 * 4. A member that dies (crash, `kill -9`) is restarted with backoff (0.5 s doubling to 8 s); after 5 failures
 *    within 60 s the launcher gives up and stops everything (exit 1). See supervisor.ts.
 * 5. Ctrl-C (SIGINT to the terminal's foreground group), SIGTERM or SIGHUP stops everything in order
 *    (gateway, services, then PostgreSQL; each step bounded) and exits 0. Members and the embedded
 *    PostgreSQL run in their own process groups, so only the launcher sees the terminal's signal.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from "@taskmaster/testing/embedded";
import { ensureDatabase, runDbTool } from "./database.js";
import { developmentIdentityEnv } from "./dev-identity.js";
import { stack } from "./stack.js";
import { createSupervisor, type Supervisor } from "./supervisor.js";

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

A member that dies is restarted (backoff 0.5 s doubling to 8 s; 5 failures within 60 s stop all).
One Ctrl-C, SIGTERM or SIGHUP stops everything in order and exits 0.

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
  let supervisor: Supervisor | undefined;
  let embedded: EmbeddedPostgresHandle | undefined;
  let stopping = false;
  let exitCode = 0;
  let firstSignalAt = 0;
  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    resolveStopped = resolve;
  });

  // In order: the members (gateway first, so calls in flight finish while the services still answer), then
  // PostgreSQL. Every step is bounded (members: SIGTERM, SIGKILL after 10 s; PostgreSQL: fast, immediate, kill).
  const shutdown = async (reason: string, code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    abort.abort();
    log(`${reason}: stopping`);
    await supervisor?.stopAll();
    if (embedded) {
      log("stopping embedded PostgreSQL");
      await embedded.stop();
    }
    log("stopped");
    resolveStopped();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopping) {
      firstSignalAt = Date.now();
      void shutdown(signal, 0);
      return;
    }
    // One Ctrl-C can arrive twice (the terminal signals the whole foreground group, and `./taskmaster`
    // passes it on): a repeat within a second is the same request. A later one forces: everything is
    // killed, PostgreSQL included, so nothing is left running.
    if (Date.now() - firstSignalAt < 1_000) return;
    log(`${signal} again: killing everything now`);
    supervisor?.killAll();
    embedded?.signalGroup("SIGQUIT");
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal);

  try {
    let databaseUrl = process.env.DATABASE_URL;
    let ownerUrl = process.env.MIGRATION_DATABASE_URL || databaseUrl;
    let serviceEnv: NodeJS.ProcessEnv = {};
    if (databaseUrl) {
      log("using DATABASE_URL");
      if (!ownerUrl) throw new Error("unreachable: DATABASE_URL is set");
      await runDbTool(root, ["migrate", "up"], ownerUrl, abort.signal);
      if (!values["no-seed"]) await runDbTool(root, ["seed"], ownerUrl, abort.signal);
    } else {
      const port = Number(values["pg-port"]);
      log(`starting embedded PostgreSQL on 127.0.0.1:${port} (data in ${values["data-dir"]})`);
      embedded = await startEmbeddedPostgres({
        dataDir: values["data-dir"],
        port,
        persistent: true,
        // Its own process group: a Ctrl-C in the terminal must not stop it before the services.
        ownProcessGroup: true,
      });
      const server = embedded;
      void server.exited.then(() => {
        if (!stopping) void shutdown("embedded PostgreSQL exited unexpectedly", 1);
      });
      ownerUrl = await ensureDatabase(embedded.url, "taskmaster");
      await runDbTool(root, ["migrate", "up"], ownerUrl, abort.signal);
      if (!values["no-seed"]) await runDbTool(root, ["seed"], ownerUrl, abort.signal);
      // Least privilege locally too: the services run as a taskmaster_app login, not the superuser.
      const password = randomBytes(18).toString("base64url");
      await runDbTool(
        root,
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
      // Where the monitoring service reads each service's /metrics (member.ts: METRICS_PORT = gRPC port + 11000).
      ...Object.fromEntries(
        stack.flatMap((spec) => {
          const port = ports.get(spec) ?? 0;
          return spec.metricsAddressEnv && port > 0
            ? [[spec.metricsAddressEnv, `${values.host}:${port + 11_000}`]]
            : [];
        }),
      ),
    };
    const addresses: string[] = [];
    const running = createSupervisor({
      root,
      host: values.host,
      env,
      ports,
      log,
      onGiveUp: (_spec, reason) => void shutdown(reason, 1),
    });
    supervisor = running;
    for (const spec of stack) {
      if (stopping) break;
      const member = await running.start(spec);
      addresses.push(`  ${spec.name.padEnd(44)} ${member.address}`);
    }
    if (!stopping) {
      process.stdout.write(
        `\nTaskmaster is up:\n${addresses.join("\n")}\n  ${"PostgreSQL (services)".padEnd(44)} ${redact(databaseUrl)}\n  ${"PostgreSQL (migrations, owner)".padEnd(44)} ${redact(ownerUrl)}\n\nCtrl-C stops everything.\n`,
      );
    }
  } catch (error) {
    // Interrupted while starting (a signal): the stop already under way decides the exit code.
    if (!stopping) await shutdown(`start failed: ${(error as Error).message}`, 1);
    await stopped;
    return exitCode;
  }
  if (stopping) {
    await stopped;
    return exitCode;
  }
  await stopped;
  return exitCode;
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
}

/** The embedded stack's service login (group roles taskmaster_app and taskmaster_monitor). */
const SERVICE_USER = "taskmaster_service";

process.exitCode = await main();
