/**
 * Removal of attachment files whose rows are gone. Deleting an attachment row leaves its file in the store
 * (the `task_attachments_deletion_record` trigger notes when, in `attachment_deletions`), because a restore
 * to any retained point before that deletion brings the row back and needs the file. Backup pruning calls
 * this with the oldest point any retained backup (or the WAL kept for point-in-time recovery) can restore:
 * a file deleted before it is out of reach of every restore and goes, unless a row references the content
 * again. Each removal holds the storage key's advisory lock, like uploads and deletes of the task service.
 */
import { stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";

export interface AttachmentPruneOptions {
  /** The database whose `task_attachments` reference the store. */
  url: string;
  attachmentsDir: string;
  /** Oldest point a retained backup or the kept WAL can restore. */
  oldestRestorablePoint: Date;
  dryRun?: boolean;
}

export interface AttachmentPruneResult {
  removedFiles: number;
  freedBytes: number;
  /** Deleted rows' files kept because a retained backup can still restore the row. */
  keptFiles: number;
}

const KEY = /^[0-9a-f]{64}$/;

async function fileSize(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

export async function pruneDeletedAttachments(
  options: AttachmentPruneOptions,
): Promise<AttachmentPruneResult> {
  const client = new pg.Client({ connectionString: options.url });
  await client.connect();
  const result: AttachmentPruneResult = { removedFiles: 0, freedBytes: 0, keptFiles: 0 };
  try {
    const table = await client.query("SELECT to_regclass('attachment_deletions') IS NOT NULL AS ok");
    if (table.rows[0]?.ok !== true) return result;
    const cutoff = options.oldestRestorablePoint.toISOString();
    const kept = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM attachment_deletions WHERE deleted_at >= $1",
      [cutoff],
    );
    result.keptFiles = kept.rows[0]?.n ?? 0;
    const due = await client.query<{ storage_key: string }>(
      "SELECT storage_key FROM attachment_deletions WHERE deleted_at < $1 ORDER BY deleted_at",
      [cutoff],
    );
    for (const { storage_key: key } of due.rows) {
      if (!KEY.test(key)) continue;
      const path = join(options.attachmentsDir, key.slice(0, 2), key);
      if (options.dryRun) {
        const size = await fileSize(path);
        if (size !== null) {
          result.removedFiles++;
          result.freedBytes += size;
        }
        continue;
      }
      await client.query("BEGIN");
      try {
        await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [key]);
        const refs = await client.query("SELECT 1 FROM task_attachments WHERE storage_key = $1 LIMIT 1", [
          key,
        ]);
        if (refs.rowCount === 0) {
          const size = await fileSize(path);
          if (size !== null) {
            await unlink(path);
            result.removedFiles++;
            result.freedBytes += size;
          }
        }
        await client.query("DELETE FROM attachment_deletions WHERE storage_key = $1 AND deleted_at < $2", [
          key,
          cutoff,
        ]);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      }
    }
  } finally {
    await client.end().catch(() => {});
  }
  return result;
}
