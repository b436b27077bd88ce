/**
 * `db drill`: a disaster-recovery rehearsal on a throwaway embedded cluster with WAL archiving.
 *
 * 1. load ~size bytes; 2. base backup; 3. keep committing while WAL is archived, note a time T, commit
 * more; 4. recover to T into a new instance and prove its rows are exactly those committed before T;
 * 5. keep committing, then kill the primary and delete its data directory (the disk is lost) and recover
 * from backup + archive alone: RTO = start of restore to a serving database, RPO = the window of
 * acknowledged commits that did not come back (bounded by archive_timeout).
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from "@taskmaster/testing/embedded";
import pg from "pg";
import { takeBaseBackup } from "./base-backup.ts";
import { checkLedgerPrefix, LEDGER_DDL, LedgerWriter } from "./drill-workload.ts";
import { restoreBase } from "./restore-base.ts";
import { walArchiveFlags } from "./wal-archive.ts";

export interface DrillOptions {
  sizeBytes: number;
  /** archive_timeout of the drill's primary (the RPO bound). */
  archiveTimeoutSeconds: number;
  port?: number | undefined;
  workDir?: string | undefined;
  keep?: boolean;
  onProgress?: (message: string) => void;
}

export interface DrillResult {
  ok: boolean;
  reason?: string;
  sizeBytes: number;
  rows: number;
  backupSeconds: number;
  backupBytes: number;
  pitrSeconds: number;
  pitrRows: number;
  rtoSeconds: number;
  rpoSeconds: number;
  lostCommits: number;
  archiveTimeoutSeconds: number;
}

const ROW_BYTES = 1200;

/** Waits until the archiver has shipped `segment` (or a later one), with a deadline. */
async function waitArchived(client: pg.Client, segment: string, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const { rows } = await client.query<{ w: string | null; f: string | null }>(
      "SELECT last_archived_wal AS w, last_failed_wal AS f FROM pg_stat_archiver",
    );
    const last = rows[0]?.w ?? "";
    if (last >= segment) return;
    if (Date.now() > until)
      throw new Error(`WAL segment ${segment} was not archived in time (failed: ${rows[0]?.f ?? "none"})`);
    await delay(50);
  }
}

function killPostmaster(dataDir: string): void {
  const pidFile = join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  if (Number.isInteger(pid) && pid > 0) process.kill(pid, "SIGKILL");
}

export async function runDrill(options: DrillOptions): Promise<DrillResult> {
  const t0 = performance.now();
  const progress = (m: string) =>
    options.onProgress?.(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${m}`);
  const work = await mkdtemp(join(options.workDir ?? tmpdir(), "taskmaster-drill-"));
  const archive = join(work, "wal-archive");
  const backups = join(work, "backups");
  const result: DrillResult = {
    ok: false,
    sizeBytes: 0,
    rows: 0,
    backupSeconds: 0,
    backupBytes: 0,
    pitrSeconds: 0,
    pitrRows: 0,
    rtoSeconds: 0,
    rpoSeconds: 0,
    lostCommits: 0,
    archiveTimeoutSeconds: options.archiveTimeoutSeconds,
  };
  const servers: EmbeddedPostgresHandle[] = [];
  let client: pg.Client | undefined;
  try {
    progress(
      `primary: embedded PostgreSQL with WAL archiving (archive_timeout=${options.archiveTimeoutSeconds}s) in ${work}`,
    );
    const primary = await startEmbeddedPostgres({
      dataDir: join(work, "primary"),
      port: options.port ?? 0,
      postgresFlags: [...walArchiveFlags(archive, options.archiveTimeoutSeconds), "-c", "max_wal_size=4GB"],
    });
    servers.push(primary);
    client = new pg.Client({ connectionString: primary.url });
    await client.connect();
    await client.query(LEDGER_DDL);
    const writer = new LedgerWriter(client);
    const rows = Math.max(1000, Math.ceil(options.sizeBytes / ROW_BYTES));
    progress(`1. load ${rows} rows (~${(options.sizeBytes / 1048576).toFixed(0)} MB)`);
    let shown = 0;
    await writer.load(rows, 5000, (done) => {
      if (done - shown >= rows / 10) {
        shown = done;
        progress(`  ${done}/${rows} rows`);
      }
    });
    result.sizeBytes = Number(
      (await client.query<{ s: string }>("SELECT pg_database_size(current_database()) AS s")).rows[0]?.s,
    );

    progress("2. base backup (pg_backup_start/pg_backup_stop + file copy)");
    const backupStarted = performance.now();
    const manifest = await takeBaseBackup({
      url: primary.url,
      backupRoot: backups,
      walArchiveDir: archive,
      onProgress: progress,
    });
    result.backupSeconds = (performance.now() - backupStarted) / 1000;
    result.backupBytes = manifest.sizeBytes;

    progress("3. commit while WAL is archived, note T, commit more");
    for (let i = 0; i < 100; i++) await writer.commit("before-T");
    const beforeT = writer.lastId;
    const targetTime = await writer.serverNow();
    for (let i = 0; i < 100; i++) await writer.commit("after-T");
    const switched = await client.query<{ f: string }>("SELECT pg_walfile_name(pg_switch_wal()) AS f");
    const archivedThrough = writer.lastId;
    await waitArchived(client, switched.rows[0]?.f ?? "", 60_000);
    progress(`  T = ${targetTime}: ${beforeT} ids committed before T, ${archivedThrough - beforeT} after`);

    progress("4. point-in-time recovery to T into a new instance");
    const pitr = await restoreBase({
      backupRoot: backups,
      manifest,
      into: join(work, "pitr"),
      targetTime,
      keepRunning: true,
      onProgress: progress,
    });
    if (pitr.server) servers.push(pitr.server);
    result.pitrSeconds = pitr.seconds;
    const pitrClient = new pg.Client({ connectionString: pitr.server?.url });
    await pitrClient.connect();
    try {
      result.pitrRows = await checkLedgerPrefix(pitrClient, beforeT);
    } finally {
      await pitrClient.end();
    }
    await pitr.server?.stop();
    progress(`  recovered exactly ids 1..${beforeT} (the rows committed before T)`);

    const tailMs = (options.archiveTimeoutSeconds + 1) * 1000;
    progress(
      `5. commit for ${tailMs / 1000}s, then lose the primary's disk (SIGKILL + delete) and recover from the archive`,
    );
    const tailEnd = Date.now() + tailMs;
    while (Date.now() < tailEnd) await writer.commit("tail", 1);
    const lastAcked = writer.lastId;
    const lastAckedAt = writer.ackedAt.get(lastAcked) ?? Date.now();
    await client.end().catch(() => {});
    client = undefined;
    killPostmaster(primary.dataDir);
    servers.splice(servers.indexOf(primary), 1);
    await rm(primary.dataDir, { recursive: true, force: true });
    const recovered = await restoreBase({
      backupRoot: backups,
      manifest,
      into: join(work, "recovered"),
      toEndOfArchive: true,
      keepRunning: true,
      onProgress: progress,
    });
    if (recovered.server) servers.push(recovered.server);
    result.rtoSeconds = recovered.seconds;
    const recClient = new pg.Client({ connectionString: recovered.server?.url });
    await recClient.connect();
    try {
      const hi = await checkLedgerPrefix(recClient, lastAcked, { atLeast: archivedThrough });
      result.rows = hi;
      result.lostCommits = lastAcked - hi;
      const recoveredAt = writer.ackedAt.get(hi);
      result.rpoSeconds =
        hi === lastAcked ? 0 : Math.max(0, (lastAckedAt - (recoveredAt ?? lastAckedAt)) / 1000);
    } finally {
      await recClient.end();
    }
    result.ok = true;
    return result;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    progress(message);
    result.reason = message.split("\n")[0];
    return result;
  } finally {
    await client?.end().catch(() => {});
    for (const server of servers.reverse()) await server.stop().catch(() => {});
    if (!options.keep) await rm(work, { recursive: true, force: true });
  }
}

export function drillLine(r: DrillResult): string {
  const numbers = `rto=${r.rtoSeconds.toFixed(1)}s rpo=${r.rpoSeconds.toFixed(1)}s size=${r.sizeBytes} rows=${r.rows}`;
  return r.ok ? `drill: PASS ${numbers}` : `drill: FAIL ${r.reason ?? "unknown"} (${numbers})`;
}

/** "50MB", "1GB", "512M", "1048576" → bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?$/i.exec(text.trim());
  if (!m) throw new Error(`--size must look like 50MB or 1GB (got "${text}")`);
  const unit = (m[2] ?? "b").toLowerCase()[0];
  const factor = unit === "g" ? 1024 ** 3 : unit === "m" ? 1024 ** 2 : unit === "k" ? 1024 : 1;
  return Math.round(Number(m[1]) * factor);
}
