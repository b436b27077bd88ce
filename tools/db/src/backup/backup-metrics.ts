/**
 * Backup health as Prometheus metrics (served by `db backup-daemon` on DB_BACKUP_METRICS_PORT): last
 * success, duration, size, age of the newest restorable point, last verification, and `stale` = 1 when the
 * newest verified backup is older than DB_BACKUP_MAX_AGE_HOURS (the alert condition; also logged).
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { listBackups } from "./manifest.ts";

export interface BackupHealth {
  lastSuccessAt: Date | null;
  lastDurationSeconds: number;
  lastSizeBytes: number;
  lastVerifyOk: boolean | null;
  /** Newest point a restore can reach: the newest archived WAL segment, else the newest verified backup. */
  newestRestorablePoint: Date | null;
  newestVerifiedBackupAt: Date | null;
  restoreTestsPassed: number;
  restoreTestsFailed: number;
}

async function newestArchived(walArchiveDir: string): Promise<Date | null> {
  let newest = 0;
  try {
    for (const name of await readdir(walArchiveDir)) {
      if (!/^[0-9A-F]{24}$/.test(name)) continue;
      newest = Math.max(newest, (await stat(join(walArchiveDir, name))).mtimeMs);
    }
  } catch {
    return null;
  }
  return newest > 0 ? new Date(newest) : null;
}

/** Reads the backups and the archive into a health snapshot (counters carried over from `previous`). */
export async function readBackupHealth(
  backupRoot: string,
  walArchiveDir: string,
  previous?: BackupHealth,
): Promise<BackupHealth> {
  const all = await listBackups(backupRoot);
  const verified = all.filter((m) => m.verification?.ok);
  const newestVerified = verified.at(-1);
  const last = all.at(-1);
  const archived = newestVerified?.kind === "base" ? await newestArchived(walArchiveDir) : null;
  const verifiedAt = newestVerified ? new Date(newestVerified.finishedAt) : null;
  return {
    lastSuccessAt: previous?.lastSuccessAt ?? verifiedAt,
    lastDurationSeconds: previous?.lastDurationSeconds ?? 0,
    lastSizeBytes: last?.sizeBytes ?? 0,
    lastVerifyOk: last?.verification ? last.verification.ok : null,
    newestRestorablePoint:
      archived && verifiedAt ? new Date(Math.max(archived.getTime(), verifiedAt.getTime())) : verifiedAt,
    newestVerifiedBackupAt: verifiedAt,
    restoreTestsPassed: previous?.restoreTestsPassed ?? 0,
    restoreTestsFailed: previous?.restoreTestsFailed ?? 0,
  };
}

export function isStale(health: BackupHealth, now: Date, maxAgeHours: number): boolean {
  return (
    health.newestVerifiedBackupAt === null ||
    now.getTime() - health.newestVerifiedBackupAt.getTime() > maxAgeHours * 3_600_000
  );
}

export function backupMetricsText(health: BackupHealth, now: Date, maxAgeHours: number): string {
  const seconds = (d: Date | null) => (d === null ? "NaN" : String(d.getTime() / 1000));
  const age = (d: Date | null) => (d === null ? "NaN" : String((now.getTime() - d.getTime()) / 1000));
  const lines: [string, string, string, string][] = [
    [
      "taskmaster_backup_last_success_timestamp_seconds",
      "gauge",
      "Time of the last verified backup",
      seconds(health.lastSuccessAt),
    ],
    [
      "taskmaster_backup_last_duration_seconds",
      "gauge",
      "Duration of the last backup incl. verification",
      String(health.lastDurationSeconds),
    ],
    ["taskmaster_backup_last_size_bytes", "gauge", "Size of the newest backup", String(health.lastSizeBytes)],
    [
      "taskmaster_backup_newest_restorable_age_seconds",
      "gauge",
      "Age of the newest point a restore can reach",
      age(health.newestRestorablePoint),
    ],
    [
      "taskmaster_backup_last_verify_ok",
      "gauge",
      "1 when the newest backup's restore test passed",
      health.lastVerifyOk === null ? "NaN" : health.lastVerifyOk ? "1" : "0",
    ],
    [
      "taskmaster_backup_stale",
      "gauge",
      `1 when the newest verified backup is older than ${maxAgeHours} h (alert)`,
      isStale(health, now, maxAgeHours) ? "1" : "0",
    ],
    [
      "taskmaster_backup_restore_tests_passed_total",
      "counter",
      "Restore tests that passed",
      String(health.restoreTestsPassed),
    ],
    [
      "taskmaster_backup_restore_tests_failed_total",
      "counter",
      "Restore tests that failed",
      String(health.restoreTestsFailed),
    ],
  ];
  return `${lines.map(([name, type, help, value]) => `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}`).join("\n")}\n`;
}
