import { describe, expect, it } from "vitest";
import { BACKUP_DEFAULTS, backupConfigFromEnv, nextBackupRun } from "./backup-config.js";
import { ConfigError } from "./config.js";

describe("backup settings", () => {
  it("defaults: daily at 02:00 UTC, 30 days, base backups, verified", () => {
    expect(backupConfigFromEnv({})).toEqual(BACKUP_DEFAULTS);
    expect(BACKUP_DEFAULTS).toMatchObject({
      enabled: true,
      atMinuteOfDay: 120,
      retentionDays: 30,
      kind: "base",
    });
  });

  it("reads every variable", () => {
    expect(
      backupConfigFromEnv({
        DB_BACKUP_ENABLED: "false",
        DB_BACKUP_AT: "23:45",
        DB_BACKUP_RETENTION_DAYS: "7",
        DB_BACKUP_KIND: "logical",
        DB_BACKUP_DIR: "/backups",
        DB_WAL_ARCHIVE_DIR: "/wal",
        DB_WAL_ARCHIVE_TIMEOUT_S: "30",
        DB_BACKUP_MAX_AGE_HOURS: "48",
        DB_BACKUP_VERIFY: "no",
      }),
    ).toEqual({
      enabled: false,
      atMinuteOfDay: 23 * 60 + 45,
      retentionDays: 7,
      kind: "logical",
      backupDir: "/backups",
      walArchiveDir: "/wal",
      archiveTimeoutSeconds: 30,
      maxAgeHours: 48,
      verify: false,
    });
  });

  it("names every invalid variable in one error", () => {
    try {
      backupConfigFromEnv({
        DB_BACKUP_AT: "25:00",
        DB_BACKUP_RETENTION_DAYS: "0",
        DB_BACKUP_KIND: "tape",
        DB_BACKUP_ENABLED: "maybe",
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.variable).sort()).toEqual([
        "DB_BACKUP_AT",
        "DB_BACKUP_ENABLED",
        "DB_BACKUP_KIND",
        "DB_BACKUP_RETENTION_DAYS",
      ]);
    }
  });

  it("next run is the next HH:MM UTC strictly after now", () => {
    expect(nextBackupRun(new Date("2026-01-01T01:59:59Z"), 120).toISOString()).toBe(
      "2026-01-01T02:00:00.000Z",
    );
    expect(nextBackupRun(new Date("2026-01-01T02:00:00Z"), 120).toISOString()).toBe(
      "2026-01-02T02:00:00.000Z",
    );
    expect(nextBackupRun(new Date("2026-12-31T23:00:00Z"), 120).toISOString()).toBe(
      "2027-01-01T02:00:00.000Z",
    );
  });
});
