/**
 * Records a restore test (the verification of a backup) in the backed-up database's
 * `backup_restore_tests`, where the monitoring service's BACKUP_STALE and RESTORE_TEST_FAILED alert rules
 * read it. A database without that table (migrations older than the backup_safety one) records nothing.
 */
import pg from "pg";
import type { BackupManifest } from "./manifest.ts";

/** Returns null when recorded, else why not (one line). */
export async function recordRestoreTest(
  url: string,
  manifest: BackupManifest,
  verification: NonNullable<BackupManifest["verification"]>,
): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    const exists = await client.query("SELECT to_regclass('backup_restore_tests') IS NOT NULL AS ok");
    if (exists.rows[0]?.ok !== true) return "no backup_restore_tests table (run the migrations)";
    await client.query(
      `INSERT INTO backup_restore_tests (backup_id, backup_kind, backup_finished_at, tested_at, ok, problems)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        manifest.id,
        manifest.kind,
        manifest.finishedAt,
        verification.at,
        verification.ok,
        verification.problems.join("\n"),
      ],
    );
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => {});
  }
}
