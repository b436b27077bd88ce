/**
 * `db backup-daemon`: the scheduled backup as a long-running process (the launcher's `backup` member in
 * development, the `backup` service in docker-compose). Daily at DB_BACKUP_AT: backup + verification by a
 * restore (a scheduled restore test, recorded for the monitoring service's alerts), then pruning of backups,
 * WAL and deleted attachments' files no retained backup can restore; Prometheus metrics on DB_BACKUP_METRICS_PORT; a
 * `backup ALERT` line whenever the newest verified backup is older than DB_BACKUP_MAX_AGE_HOURS.
 */
import { createServer, type Server } from "node:http";
import type { BackupConfig } from "@taskmaster/config/backup-config";
import { pruneDeletedAttachments } from "./attachment-prune.ts";
import { type BackupHealth, backupMetricsText, isStale, readBackupHealth } from "./backup-metrics.ts";
import { runBackupSchedule, type ScheduleClock, systemClock } from "./backup-schedule.ts";
import { takeBaseBackup } from "./base-backup.ts";
import { takeLogicalBackup } from "./logical-backup.ts";
import { pruneBackups } from "./prune.ts";
import { verifyBackup } from "./verify-backup.ts";

export interface DaemonOptions {
  config: BackupConfig;
  url: string;
  attachmentsDir: string;
  metricsPort: number;
  /** Address the metrics endpoint binds (default 127.0.0.1; 0.0.0.0 in a container Prometheus scrapes). */
  metricsHost?: string;
  signal: AbortSignal;
  log: (line: string) => void;
  clock?: ScheduleClock;
  runNow?: boolean;
}

/** One scheduled run: backup, verify (restore test), prune. Returns the updated health. */
export async function backupJob(
  options: DaemonOptions,
  health: BackupHealth,
  now: Date,
): Promise<BackupHealth> {
  const { config, log } = options;
  const started = performance.now();
  const clockNow = () => (options.clock ?? systemClock).now();
  const manifest =
    config.kind === "base"
      ? await takeBaseBackup({
          url: options.url,
          backupRoot: config.backupDir,
          walArchiveDir: config.walArchiveDir,
          attachmentsDir: options.attachmentsDir,
          onProgress: log,
          now: clockNow,
        })
      : await takeLogicalBackup({
          url: options.url,
          backupRoot: config.backupDir,
          attachmentsDir: options.attachmentsDir,
          onProgress: log,
          now: clockNow,
        });
  const verification = config.verify
    ? await verifyBackup({
        backupRoot: config.backupDir,
        manifest,
        url: options.url,
        onProgress: log,
        now: clockNow,
      })
    : undefined;
  const pruned = await pruneBackups({
    backupRoot: config.backupDir,
    walArchiveDir: config.walArchiveDir,
    retentionDays: config.retentionDays,
    now,
  });
  const files = await pruneDeletedAttachments({
    url: options.url,
    attachmentsDir: options.attachmentsDir,
    oldestRestorablePoint: pruned.oldestRestorablePoint,
  });
  log(
    `backup pruning: removed ${pruned.removedBackups.length} backup(s), ${pruned.removedWalFiles} WAL file(s), ${files.removedFiles} deleted attachment file(s); kept ${pruned.keptBackups.length} backup(s), ${files.keptFiles} deleted attachment file(s) still restorable`,
  );
  const next = await readBackupHealth(config.backupDir, config.walArchiveDir, health);
  const ok = verification === undefined || verification.ok;
  return {
    ...next,
    lastSuccessAt: ok ? now : health.lastSuccessAt,
    lastDurationSeconds: (performance.now() - started) / 1000,
    restoreTestsPassed: health.restoreTestsPassed + (verification?.ok === true ? 1 : 0),
    restoreTestsFailed: health.restoreTestsFailed + (verification?.ok === false ? 1 : 0),
  };
}

export async function runBackupDaemon(options: DaemonOptions): Promise<void> {
  const { config, log, signal } = options;
  const clock = options.clock ?? systemClock;
  let health = await readBackupHealth(config.backupDir, config.walArchiveDir);
  let server: Server | undefined;
  if (options.metricsPort > 0) {
    server = createServer((req, res) => {
      if (req.url !== "/metrics") {
        res.writeHead(404).end();
        return;
      }
      // Re-read on every scrape: backups taken on demand (db backup) count too.
      void readBackupHealth(config.backupDir, config.walArchiveDir, health)
        .then((fresh) => {
          health = fresh;
        })
        .catch(() => {})
        .finally(() => {
          res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
          res.end(backupMetricsText(health, clock.now(), config.maxAgeHours));
        });
    });
    await new Promise<void>((resolve) =>
      server?.listen(options.metricsPort, options.metricsHost ?? "127.0.0.1", resolve),
    );
    log(`backup metrics on http://${options.metricsHost ?? "127.0.0.1"}:${options.metricsPort}/metrics`);
  }
  const alertIfStale = () => {
    if (isStale(health, clock.now(), config.maxAgeHours))
      log(
        `backup ALERT: no verified backup in the last ${config.maxAgeHours} h (newest: ${health.newestVerifiedBackupAt?.toISOString() ?? "none"})`,
      );
  };
  const runOnce = async (now: Date) => {
    health = await backupJob(options, health, now);
    alertIfStale();
  };
  const at = `${String(Math.floor(config.atMinuteOfDay / 60)).padStart(2, "0")}:${String(config.atMinuteOfDay % 60).padStart(2, "0")}`;
  log(
    `backup schedule: daily at ${at} UTC, ${config.kind}, keep ${config.retentionDays} days, into ${config.backupDir}`,
  );
  try {
    if (options.runNow) await runOnce(clock.now()).catch((e: Error) => log(`backup FAILED: ${e.message}`));
    alertIfStale();
    await runBackupSchedule({
      atMinuteOfDay: config.atMinuteOfDay,
      clock,
      signal,
      job: runOnce,
      onRun: (r) =>
        log(
          r.ok
            ? `backup run at ${r.at.toISOString()}: ok`
            : `backup FAILED at ${r.at.toISOString()}: ${r.error}`,
        ),
    });
  } finally {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
