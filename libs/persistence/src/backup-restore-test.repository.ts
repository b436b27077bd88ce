/**
 * Restore tests of backups (`backup_restore_tests`, written by `db verify-backup` and the backup daemon):
 * the monitoring service reads the newest outcome and the newest verified backup for its backup alerts.
 */
import type { EntityManager } from "@mikro-orm/core";
import { query, type Row, sql } from "./sql-toolkit.js";

export interface RestoreTestRow {
  backupId: string;
  backupKind: string;
  backupFinishedAt: Date;
  testedAt: Date;
  ok: boolean;
  problems: string;
}

const toDate = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

/** The newest restore test, or null when none was recorded. */
export async function newestRestoreTest(em: EntityManager): Promise<RestoreTestRow | null> {
  const rows = await query(
    em,
    sql<Row>`select backup_id, backup_kind, backup_finished_at, tested_at, ok, problems
         from backup_restore_tests order by tested_at desc limit 1`,
  );
  const r = rows[0];
  if (r === undefined) return null;
  return {
    backupId: String(r.backup_id),
    backupKind: String(r.backup_kind),
    backupFinishedAt: toDate(r.backup_finished_at),
    testedAt: toDate(r.tested_at),
    ok: r.ok === true,
    problems: String(r.problems ?? ""),
  };
}

/** When the newest backup that passed a restore test was taken, or null when none did. */
export async function newestVerifiedBackupTime(em: EntityManager): Promise<Date | null> {
  const rows = await query(
    em,
    sql<Row>`select max(backup_finished_at) as at from backup_restore_tests where ok`,
  );
  const at = rows[0]?.at;
  return at === null || at === undefined ? null : toDate(at);
}
