/**
 * Backup settings (validated; one ConfigError naming every problem):
 *
 * | variable | default | meaning |
 * | --- | --- | --- |
 * | `DB_BACKUP_ENABLED` | true (development: the launcher runs it) | run the scheduled backup |
 * | `DB_BACKUP_AT` | 02:00 | daily start time, `HH:MM` UTC |
 * | `DB_BACKUP_RETENTION_DAYS` | 30 | backups older than this are pruned (the newest one is always kept) |
 * | `DB_BACKUP_KIND` | base | kind of the scheduled backup: `base` (physical + WAL) or `logical` (pg_dump) |
 * | `DB_BACKUP_DIR` | .data/backups | where backups (and their manifests) are written |
 * | `DB_WAL_ARCHIVE_DIR` | .data/wal-archive | WAL archive (archive_command target; must be writable by postgres) |
 * | `DB_WAL_ARCHIVE_TIMEOUT_S` | 60 | archive_timeout: the bound on the RPO of an idle-ish database |
 * | `DB_BACKUP_MAX_AGE_HOURS` | 26 | alert when the newest verified backup is older than this |
 * | `DB_BACKUP_VERIFY` | true | verify every backup by restoring it into a scratch instance |
 */
import { ConfigError, type ConfigIssue, type Env } from "./config.js";
import { envReader } from "./env-reader.js";

export interface BackupConfig {
  readonly enabled: boolean;
  /** Minutes after midnight UTC of the daily run. */
  readonly atMinuteOfDay: number;
  readonly retentionDays: number;
  readonly kind: "base" | "logical";
  readonly backupDir: string;
  readonly walArchiveDir: string;
  readonly archiveTimeoutSeconds: number;
  readonly maxAgeHours: number;
  readonly verify: boolean;
}

export const BACKUP_DEFAULTS: BackupConfig = {
  enabled: true,
  atMinuteOfDay: 2 * 60,
  retentionDays: 30,
  kind: "base",
  backupDir: ".data/backups",
  walArchiveDir: ".data/wal-archive",
  archiveTimeoutSeconds: 60,
  maxAgeHours: 26,
  verify: true,
};

/** Reads and validates the backup settings; throws {@link ConfigError} listing every problem. */
export function backupConfigFromEnv(env: Env): BackupConfig {
  const issues: ConfigIssue[] = [];
  const { present, int, bool } = envReader(env, issues);
  let atMinuteOfDay = BACKUP_DEFAULTS.atMinuteOfDay;
  const at = present("DB_BACKUP_AT");
  if (at !== undefined) {
    const m = /^(\d{1,2}):(\d{2})$/.exec(at);
    const minutes = m ? Number(m[1]) * 60 + Number(m[2]) : Number.NaN;
    if (!m || Number(m[1]) > 23 || Number(m[2]) > 59)
      issues.push({ variable: "DB_BACKUP_AT", message: `must be HH:MM (UTC), e.g. 02:00 (got "${at}")` });
    else atMinuteOfDay = minutes;
  }
  const kindRaw = present("DB_BACKUP_KIND") ?? BACKUP_DEFAULTS.kind;
  if (kindRaw !== "base" && kindRaw !== "logical")
    issues.push({ variable: "DB_BACKUP_KIND", message: `must be base or logical (got "${kindRaw}")` });
  const config: BackupConfig = {
    enabled: bool("DB_BACKUP_ENABLED", BACKUP_DEFAULTS.enabled),
    atMinuteOfDay,
    retentionDays: int("DB_BACKUP_RETENTION_DAYS", 1, 3650, BACKUP_DEFAULTS.retentionDays),
    kind: kindRaw === "logical" ? "logical" : "base",
    backupDir: present("DB_BACKUP_DIR") ?? BACKUP_DEFAULTS.backupDir,
    walArchiveDir: present("DB_WAL_ARCHIVE_DIR") ?? BACKUP_DEFAULTS.walArchiveDir,
    archiveTimeoutSeconds: int("DB_WAL_ARCHIVE_TIMEOUT_S", 1, 3600, BACKUP_DEFAULTS.archiveTimeoutSeconds),
    maxAgeHours: int("DB_BACKUP_MAX_AGE_HOURS", 1, 24 * 365, BACKUP_DEFAULTS.maxAgeHours),
    verify: bool("DB_BACKUP_VERIFY", BACKUP_DEFAULTS.verify),
  };
  if (issues.length > 0) throw new ConfigError(issues);
  return config;
}

/** The next daily run strictly after `now` at `atMinuteOfDay` (UTC). */
export function nextBackupRun(now: Date, atMinuteOfDay: number): Date {
  const day = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  let next = day + atMinuteOfDay * 60_000;
  if (next <= now.getTime()) next += 86_400_000;
  return new Date(next);
}
