/**
 * Verification of a written backup: every file against its manifest checksum, then a real restore into a
 * scratch instance (base: a temporary data directory on a free port; logical: a temporary database on the
 * same server), where the migration level, the rows per table, the foreign keys and the audit hash chain are
 * checked (restore-checks.ts). The result (with the row counts) goes into the manifest and, as a restore
 * test, into the backed-up database's `backup_restore_tests` (the monitoring service alerts on it).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { checkFiles } from "./file-copy.ts";
import { restoreLogical } from "./logical-backup.ts";
import { type BackupManifest, writeManifest } from "./manifest.ts";
import { restoreBase } from "./restore-base.ts";
import { checkRestored } from "./restore-checks.ts";
import { recordRestoreTest } from "./restore-test-record.ts";

export interface VerifyOptions {
  backupRoot: string;
  manifest: BackupManifest;
  /** Server URL of the backed-up database: credentials for the scratch instance (base), or the server that
   * hosts the scratch database (logical). */
  url: string;
  walArchiveDir?: string | undefined;
  port?: number | undefined;
  onProgress?: (message: string) => void;
  /** Clock of the test's record (tests inject one). */
  now?: () => Date;
}

export async function verifyBackup(
  options: VerifyOptions,
): Promise<NonNullable<BackupManifest["verification"]>> {
  const { manifest } = options;
  const progress = options.onProgress ?? (() => {});
  const dir = join(options.backupRoot, manifest.id);
  const problems: string[] = [];
  progress(`verify ${manifest.id}: checksums and a restore into a scratch instance`);
  // The database files are checked against the manifest by the restore below (one read, not two).
  problems.push(
    ...(await checkFiles(join(dir, "attachments"), manifest.attachments)).map((p) => `attachment ${p}`),
  );
  let rowCountsFound: Record<string, number> = {};
  let restoreSeconds = 0;
  if (problems.length === 0) {
    if (manifest.kind === "base") {
      const scratch = await mkdtemp(join(tmpdir(), "taskmaster-verify-"));
      try {
        const source = new URL(options.url);
        const restored = await restoreBase({
          backupRoot: options.backupRoot,
          manifest,
          into: join(scratch, "data"),
          walArchiveDir: options.walArchiveDir,
          port: options.port,
          password: decodeURIComponent(source.password || "postgres"),
          keepRunning: true,
          onProgress: progress,
        });
        restoreSeconds = restored.seconds;
        const url = new URL(restored.server?.url ?? "");
        url.username = source.username || "postgres";
        url.password = source.password || "postgres";
        url.pathname = `/${manifest.database}`;
        const client = new pg.Client({ connectionString: url.toString() });
        try {
          await client.connect();
          rowCountsFound = await checkRestored(client, manifest, problems);
        } finally {
          await client.end().catch(() => {});
          await restored.server?.stop();
        }
      } catch (error) {
        problems.push(error instanceof Error ? error.message : String(error));
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    } else {
      const name = `taskmaster_verify_${Date.now().toString(36)}`;
      const admin = new pg.Client({ connectionString: options.url });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
        const url = new URL(options.url);
        url.pathname = `/${name}`;
        restoreSeconds = (
          await restoreLogical({
            backupRoot: options.backupRoot,
            manifest,
            url: url.toString(),
            onProgress: progress,
          })
        ).seconds;
        const client = new pg.Client({ connectionString: url.toString() });
        await client.connect();
        try {
          rowCountsFound = await checkRestored(client, manifest, problems);
        } finally {
          await client.end();
        }
      } catch (error) {
        problems.push(error instanceof Error ? error.message : String(error));
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
        await admin.end();
      }
    }
  }
  const verification = {
    at: (options.now ?? (() => new Date()))().toISOString(),
    ok: problems.length === 0,
    problems,
    rowCounts: rowCountsFound,
    restoreSeconds,
  };
  await writeManifest(dir, { ...manifest, verification });
  const notRecorded = await recordRestoreTest(options.url, manifest, verification);
  if (notRecorded !== null) progress(`verify ${manifest.id}: restore test not recorded: ${notRecorded}`);
  progress(`verify ${manifest.id}: ${verification.ok ? "OK" : `FAILED (${problems[0]})`}`);
  return verification;
}
