/**
 * Physical base backup with the non-exclusive low-level API: `pg_backup_start` and `pg_backup_stop` in one
 * session, a file copy of the data directory between them, and the returned `backup_label` written into the
 * copy. The WAL from start to stop reaches the archive (`pg_backup_stop(true)` waits for it), so the copy
 * plus the archive restores to any point after the backup's end. Needs a superuser connection on the same
 * machine as the data directory (the embedded cluster) and `archive_mode=on`.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { copyAttachments } from "./attachments.ts";
import { copyTree } from "./file-copy.ts";
import { type BackupManifest, backupId, writeManifest } from "./manifest.ts";
import { serverInfo } from "./server-info.ts";

export interface BackupTarget {
  /** Superuser URL of the database to back up (its rows are counted on verification). */
  url: string;
  backupRoot: string;
  walArchiveDir: string;
  /** Attachment store to include (skipped when missing). */
  attachmentsDir?: string | undefined;
  onProgress?: (message: string) => void;
  now?: () => Date;
}

/** Directories whose contents a base backup leaves out (PostgreSQL's own list for base backups). */
const SKIP_CONTENTS = new Set([
  "pg_wal",
  "pg_replslot",
  "pg_dynshmem",
  "pg_notify",
  "pg_serial",
  "pg_snapshots",
  "pg_stat_tmp",
  "pg_subtrans",
]);
const SKIP_FILES = new Set([
  "postmaster.pid",
  "postmaster.opts",
  "backup_label",
  "backup_label.old",
  "tablespace_map",
  "recovery.signal",
  "standby.signal",
  "current_logfiles",
]);

export async function takeBaseBackup(target: BackupTarget): Promise<BackupManifest> {
  const now = target.now ?? (() => new Date());
  const progress = target.onProgress ?? (() => {});
  const client = new pg.Client({ connectionString: target.url });
  await client.connect();
  try {
    const info = await serverInfo(client);
    if (info.dataDirectory === null)
      throw new Error("a base backup needs a superuser connection (to read data_directory)");
    if (info.archiveMode === "off")
      throw new Error(
        "a base backup needs WAL archiving (archive_mode=on): start the database with ./taskmaster start, or use --kind logical",
      );
    const started = now();
    const id = backupId("base", started);
    const dir = join(target.backupRoot, id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      progress(`base backup ${id}: pg_backup_start (checkpoint)`);
      const start = await client.query<{ lsn: string }>("SELECT pg_backup_start($1, true)::text AS lsn", [
        id,
      ]);
      let last = 0;
      const files = await copyTree(info.dataDirectory, join(dir, "data"), {
        skipContents: SKIP_CONTENTS,
        skipFiles: (rel) => SKIP_FILES.has(rel) || rel.includes("pgsql_tmp"),
        onProgress: (bytes) => {
          if (bytes - last >= 64 << 20) {
            last = bytes;
            progress(`  copied ${(bytes / 1048576).toFixed(0)} MiB`);
          }
        },
      });
      progress("  pg_backup_stop (waits until the WAL is archived)");
      await client.query("SET statement_timeout = '300s'");
      const stop = await client.query<{ lsn: string; labelfile: string; spcmapfile: string | null }>(
        "SELECT lsn::text, labelfile, spcmapfile FROM pg_backup_stop(true)",
      );
      const row = stop.rows[0];
      if (!row) throw new Error("pg_backup_stop returned nothing");
      await writeFile(join(dir, "data", "backup_label"), row.labelfile, { mode: 0o600 });
      if (row.spcmapfile)
        await writeFile(join(dir, "data", "tablespace_map"), row.spcmapfile, { mode: 0o600 });
      const finished = now();
      const attachments = await copyAttachments(target.attachmentsDir, join(dir, "attachments"));
      const manifest: BackupManifest = {
        id,
        kind: "base",
        startedAt: started.toISOString(),
        finishedAt: finished.toISOString(),
        serverVersion: info.serverVersion,
        serverVersionNum: info.serverVersionNum,
        database: info.database,
        migrationLevel: info.migrationLevel,
        sizeBytes: files.reduce((a, f) => a + f.size, 0),
        startLsn: start.rows[0]?.lsn ?? "",
        stopLsn: row.lsn,
        walArchiveDir: target.walArchiveDir,
        files,
        attachments,
        attachmentsBytes: attachments.reduce((a, f) => a + f.size, 0),
      };
      await writeManifest(dir, manifest);
      progress(`base backup ${id}: ${manifest.files.length} files, ${manifest.sizeBytes} bytes`);
      return manifest;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  } finally {
    await client.end();
  }
}
