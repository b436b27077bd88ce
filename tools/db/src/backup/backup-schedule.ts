/**
 * The daily backup schedule: sleep until the next `DB_BACKUP_AT` (UTC), take a backup (verified), prune
 * what retention allows, record the outcome. The clock is injected: tests run many days in milliseconds.
 */
import { nextBackupRun } from "@taskmaster/config/backup-config";

export interface ScheduleClock {
  now(): Date;
  /** Resolves at `at` (or at once when aborted). */
  sleepUntil(at: Date, signal: AbortSignal): Promise<void>;
}

export const systemClock: ScheduleClock = {
  now: () => new Date(),
  sleepUntil: (at, signal) =>
    new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, at.getTime() - Date.now()));
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    }),
};

export interface ScheduledRun {
  at: Date;
  ok: boolean;
  error?: string;
}

export interface ScheduleOptions {
  atMinuteOfDay: number;
  clock: ScheduleClock;
  signal: AbortSignal;
  /** One scheduled run: backup, verification, pruning. Throws on failure (the schedule goes on). */
  job: (now: Date) => Promise<void>;
  onRun?: (run: ScheduledRun) => void;
}

/** Runs `job` daily at `atMinuteOfDay` until `signal` aborts. */
export async function runBackupSchedule(options: ScheduleOptions): Promise<void> {
  const { clock, signal } = options;
  while (!signal.aborted) {
    const next = nextBackupRun(clock.now(), options.atMinuteOfDay);
    await clock.sleepUntil(next, signal);
    if (signal.aborted) return;
    const at = clock.now();
    try {
      await options.job(at);
      options.onRun?.({ at, ok: true });
    } catch (error) {
      options.onRun?.({ at, ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  }
}
