#!/usr/bin/env node
/**
 * Development launcher: brings the whole stack up with one command.
 *
 * 1. PostgreSQL: `DATABASE_URL` when given, else embedded PostgreSQL with its data in `.data/postgres`.
 * 2. Migrations (`tools/db migrate up`), then the demo seed on an empty database.
 * 3. Each service as its own process, started in order and waited for (gRPC health / HTTP health).
 * 4. Ctrl-C (SIGINT) or SIGTERM stops everything in reverse order and exits 0.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startEmbeddedPostgres } from "@taskmaster/testing/embedded";
import { ensureDatabase } from "./database.js";
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
    if (databaseUrl) {
      log("using DATABASE_URL");
    } else {
      const port = Number(values["pg-port"]);
      log(`starting embedded PostgreSQL on 127.0.0.1:${port} (data in ${values["data-dir"]})`);
      const embedded = await startEmbeddedPostgres({ dataDir: values["data-dir"], port, persistent: true });
      stopEmbedded = embedded.stop;
      databaseUrl = await ensureDatabase(embedded.url, "taskmaster");
    }

    await runTool(["migrate", "up"], databaseUrl, abort.signal);
    if (!values["no-seed"]) await runTool(["seed"], databaseUrl, abort.signal);

    const ports = new Map(stack.map((spec) => [spec, Number(process.env[spec.portEnv] ?? spec.defaultPort)]));
    const profile = process.env.TASKMASTER_PROFILE ?? "development";
    // The local stack has no Cloudflare Access in front of it: the gateway runs without authentication unless
    // told otherwise (GATEWAY_AUTH=jwt + CF_ACCESS_* / GATEWAY_BEARER_*); staging/production refuse "none".
    const gatewayAuth = process.env.GATEWAY_AUTH ?? (profile === "development" ? "none" : "jwt");
    if (gatewayAuth === "none")
      log("gateway authentication is OFF (development); set GATEWAY_AUTH=jwt to enable it");
    const env: NodeJS.ProcessEnv = {
      ...process.env,
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
        `\nTaskmaster is up:\n${addresses.join("\n")}\n  ${"PostgreSQL".padEnd(44)} ${redact(databaseUrl)}\n\nCtrl-C stops everything.\n`,
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

async function runTool(args: string[], databaseUrl: string, signal: AbortSignal): Promise<void> {
  const { spawn } = await import("node:child_process");
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "tools/db/dist/db.js"), ...args], {
      cwd: root,
      stdio: "inherit",
      env: { ...process.env, DATABASE_URL: databaseUrl },
      signal,
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`db ${args.join(" ")} failed (${code})`)),
    );
  });
}

process.exitCode = await main();
