/**
 * The daily schedule with an injected clock: runs land at DB_BACKUP_AT every day, a failing run does not
 * stop the schedule, and 40 simulated days of backups + pruning keep exactly the retention window.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { backupMetricsText, readBackupHealth } from "./backup-metrics.ts";
import { runBackupSchedule, type ScheduleClock } from "./backup-schedule.ts";
import { backupId, listBackups, writeManifest } from "./manifest.ts";
import { pruneBackups } from "./prune.ts";

let root: string | undefined;
afterEach(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

/** A clock whose sleeps return at once with the time moved to the wake-up time. */
function fakeClock(start: string): ScheduleClock {
  let now = new Date(start);
  return {
    now: () => now,
    sleepUntil: async (at) => {
      now = at;
    },
  };
}

describe("backup schedule", () => {
  it("runs daily at the configured time and keeps going after a failure", async () => {
    const clock = fakeClock("2026-03-01T10:00:00Z");
    const abort = new AbortController();
    const runs: { at: string; ok: boolean }[] = [];
    await runBackupSchedule({
      atMinuteOfDay: 2 * 60,
      clock,
      signal: abort.signal,
      job: async (now) => {
        if (now.toISOString().startsWith("2026-03-03")) throw new Error("disk full");
      },
      onRun: (r) => {
        runs.push({ at: r.at.toISOString(), ok: r.ok });
        if (runs.length === 4) abort.abort();
      },
    });
    expect(runs).toEqual([
      { at: "2026-03-02T02:00:00.000Z", ok: true },
      { at: "2026-03-03T02:00:00.000Z", ok: false },
      { at: "2026-03-04T02:00:00.000Z", ok: true },
      { at: "2026-03-05T02:00:00.000Z", ok: true },
    ]);
  });

  it("prunes backups past the retention as simulated days pass", async () => {
    root = mkdtempSync(join(tmpdir(), "taskmaster-schedule-"));
    const backups = join(root, "backups");
    const clock = fakeClock("2026-03-01T10:00:00Z");
    const abort = new AbortController();
    let days = 0;
    await runBackupSchedule({
      atMinuteOfDay: 2 * 60,
      clock,
      signal: abort.signal,
      job: async (now) => {
        const id = backupId("logical", now);
        await writeManifest(join(backups, id), {
          id,
          kind: "logical",
          startedAt: now.toISOString(),
          finishedAt: now.toISOString(),
          serverVersion: "18",
          serverVersionNum: 180000,
          database: "taskmaster",
          migrationLevel: null,
          sizeBytes: 10,
          files: [],
          attachments: [],
          attachmentsBytes: 0,
          verification: { at: now.toISOString(), ok: true, problems: [], rowCounts: {}, restoreSeconds: 1 },
        });
        await pruneBackups({
          backupRoot: backups,
          walArchiveDir: join(root ?? "", "wal"),
          retentionDays: 30,
          now,
        });
      },
      onRun: () => {
        if (++days === 40) abort.abort();
      },
    });
    const kept = await listBackups(backups);
    // Run 40 is 2026-04-10 02:00; backups from 2026-03-11 02:00 on are within 30 days.
    expect(kept).toHaveLength(31);
    expect(kept[0]?.finishedAt).toBe("2026-03-11T02:00:00.000Z");
    expect(kept.at(-1)?.finishedAt).toBe("2026-04-10T02:00:00.000Z");
    const health = await readBackupHealth(backups, join(root, "wal"));
    const text = backupMetricsText(health, new Date("2026-04-11T12:00:00Z"), 26);
    expect(text).toContain("taskmaster_backup_stale 1");
    expect(backupMetricsText(health, new Date("2026-04-10T12:00:00Z"), 26)).toContain(
      "taskmaster_backup_stale 0",
    );
    expect(text).toContain("taskmaster_backup_newest_restorable_age_seconds 122400");
  });
});
