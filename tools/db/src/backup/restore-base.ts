/**
 * Restores a base backup into a new data directory, optionally to a point in time (`recovery_target_time`)
 * with WAL from the archive, starts it until recovery has finished and the server accepts connections
 * (promoted), then stops it cleanly. The directory is then an ordinary cluster (`./taskmaster start
 * --data-dir DIR`). Never over a directory in use; over an existing cluster only with `replace`.
 */
import { existsSync, readFileSync } from "node:fs";
import { appendFile, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from "@taskmaster/testing/embedded";
import { compareFiles, copyTree } from "./file-copy.ts";
import type { BackupManifest } from "./manifest.ts";
import { giveToPostgres } from "./postgres-owner.ts";
import { restoreCommand } from "./wal-archive.ts";

export interface BaseRestoreOptions {
  backupRoot: string;
  manifest: BackupManifest;
  into: string;
  /** Recovery target (RFC 3339, microseconds allowed); omitted = the end of the backup (`immediate`), or
   * the end of the archive when `toEndOfArchive`. */
  targetTime?: string | undefined;
  toEndOfArchive?: boolean;
  replace?: boolean;
  walArchiveDir?: string | undefined;
  /** Port for the recovery run (free port when omitted). */
  port?: number | undefined;
  /** Superuser password of the backed-up cluster (for the readiness check). */
  password?: string | undefined;
  /** Leave the restored server running and hand it back (the drill reads it). */
  keepRunning?: boolean;
  onProgress?: (message: string) => void;
}

export interface BaseRestoreResult {
  dataDir: string;
  /** Copy + recovery until the server accepted connections. */
  seconds: number;
  bytes: number;
  server?: EmbeddedPostgresHandle;
}

const RECOVERY_MARK = "# taskmaster restore (removed after recovery)";

/** A data directory some server is running in (its postmaster.pid names a live process). */
export function liveServerIn(dir: string): number | null {
  const pidFile = join(dir, "postmaster.pid");
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

async function prepareTarget(into: string, replace: boolean): Promise<void> {
  if (!existsSync(into)) return;
  const entries = await readdir(into);
  if (entries.length === 0) return;
  const pid = liveServerIn(into);
  if (pid !== null) throw new Error(`${into} is in use by a running server (pid ${pid}): stop it first`);
  if (!replace)
    throw new Error(`${into} is not empty: choose a new directory, or pass --replace to overwrite it`);
  await rm(into, { recursive: true, force: true });
}

/** RFC 3339 → the form `recovery_target_time` accepts (`2026-01-31 12:00:00.123456+00`), precision kept. */
export function recoveryTime(rfc3339: string): string {
  const m = /^(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d(?:\.\d{1,6})?)\d*([Zz]|[+-]\d\d(?::?\d\d)?)$/.exec(
    rfc3339.trim(),
  );
  if (!m) throw new Error(`not an RFC 3339 time: ${rfc3339}`);
  return `${m[1]} ${m[2]}${m[3] === "Z" || m[3] === "z" ? "+00" : m[3]}`;
}

function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export async function restoreBase(options: BaseRestoreOptions): Promise<BaseRestoreResult> {
  const progress = options.onProgress ?? (() => {});
  const { manifest } = options;
  if (manifest.kind !== "base")
    throw new Error(`backup ${manifest.id} is ${manifest.kind}, not a base backup`);
  const into = resolve(options.into);
  const archive = options.walArchiveDir ?? manifest.walArchiveDir;
  if (!archive) throw new Error("no WAL archive known for this backup (set DB_WAL_ARCHIVE_DIR)");
  const started = performance.now();
  await prepareTarget(into, options.replace === true);
  const source = join(options.backupRoot, manifest.id, "data");
  progress(`restore ${manifest.id} into ${into}: copying ${(manifest.sizeBytes / 1048576).toFixed(0)} MiB`);
  let last = 0;
  const copied = await copyTree(source, into, {
    onProgress: (bytes) => {
      if (bytes - last >= 64 << 20) {
        last = bytes;
        progress(`  copied ${(bytes / 1048576).toFixed(0)} MiB`);
      }
    },
  });
  const problems = compareFiles(copied, manifest.files);
  if (problems.length > 0)
    throw new Error(`restored files differ from the manifest: ${problems.slice(0, 3).join("; ")}`);
  const settings = [
    RECOVERY_MARK,
    `restore_command = ${sqlString(restoreCommand(archive))}`,
    "recovery_target_action = 'promote'",
    "recovery_target_timeline = 'latest'",
    options.targetTime !== undefined
      ? `recovery_target_time = ${sqlString(recoveryTime(options.targetTime))}`
      : options.toEndOfArchive
        ? ""
        : "recovery_target = 'immediate'",
    "archive_mode = off",
    RECOVERY_MARK,
  ];
  await appendFile(join(into, "postgresql.auto.conf"), `\n${settings.filter((s) => s !== "").join("\n")}\n`);
  await writeFile(join(into, "recovery.signal"), "");
  giveToPostgres(into);
  progress(
    `  recovering from ${archive}${options.targetTime ? ` to ${options.targetTime}` : options.toEndOfArchive ? " to the end of the archive" : " to the end of the backup"}`,
  );
  let server: EmbeddedPostgresHandle;
  try {
    server = await startEmbeddedPostgres({
      dataDir: into,
      port: options.port ?? 0,
      password: options.password ?? "postgres",
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const reason = /recovery ended before configured recovery target was reached/.test(message)
      ? "the archive ends before the recovery target (the WAL up to that time was not archived)"
      : message.split("\n").slice(0, 12).join("\n");
    throw new Error(`recovery failed: ${reason}`);
  }
  const seconds = (performance.now() - started) / 1000;
  progress(`  serving after ${seconds.toFixed(1)} s (recovered and promoted)`);
  if (options.keepRunning) return { dataDir: into, seconds, bytes: manifest.sizeBytes, server };
  await server.stop();
  await dropRecoverySettings(into);
  return { dataDir: into, seconds, bytes: manifest.sizeBytes };
}

/** Removes the restore's recovery lines from postgresql.auto.conf (recovery is over; they would mislead). */
export async function dropRecoverySettings(dataDir: string): Promise<void> {
  const path = join(dataDir, "postgresql.auto.conf");
  const text = await readFile(path, "utf8");
  const parts = text.split(RECOVERY_MARK);
  if (parts.length < 3) return;
  await writeFile(path, `${(parts[0] ?? "").trimEnd()}\n${(parts[2] ?? "").trimStart()}`);
  giveToPostgres(path);
}
