/**
 * Retention of backups and of the WAL archive. Backups older than the retention are removed, except that
 * the newest verified backup (or, with none verified, the newest) is always kept; WAL segments older than
 * the start of the oldest kept base backup can no longer be replayed by anything kept and are removed
 * (timeline history files are always kept). Nothing is removed from the WAL archive while no base backup
 * is kept.
 */
import { readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { type BackupManifest, listBackups } from "./manifest.ts";

export interface PruneOptions {
  backupRoot: string;
  walArchiveDir: string;
  retentionDays: number;
  now: Date;
  dryRun?: boolean;
}

export interface PruneResult {
  removedBackups: string[];
  keptBackups: string[];
  removedWalFiles: number;
  freedBytes: number;
  /** Oldest WAL segment still needed (null: nothing kept that needs WAL). */
  oldestNeededWal: string | null;
  /** Oldest point a kept backup (with the WAL kept after it) can restore; `now` when nothing is kept.
   * Attachment files deleted before it are out of reach of every restore (attachment-prune.ts). */
  oldestRestorablePoint: Date;
}

const SEGMENT = /^[0-9A-F]{24}(\.partial)?$/;

async function dirBytes(path: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/** The WAL file a base backup starts in (from its backup_label). */
async function startWalFile(backupRoot: string, m: BackupManifest): Promise<string | null> {
  try {
    const label = await readFile(join(backupRoot, m.id, "data", "backup_label"), "utf8");
    return /START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)/.exec(label)?.[1] ?? null;
  } catch {
    return null;
  }
}

export async function pruneBackups(options: PruneOptions): Promise<PruneResult> {
  const all = await listBackups(options.backupRoot);
  const cutoff = options.now.getTime() - options.retentionDays * 86_400_000;
  const anchor = [...all].reverse().find((m) => m.verification?.ok) ?? all.at(-1);
  const keep = all.filter((m) => m === anchor || Date.parse(m.finishedAt) >= cutoff);
  const remove = all.filter((m) => !keep.includes(m));
  let freedBytes = 0;
  for (const m of remove) {
    const dir = join(options.backupRoot, m.id);
    freedBytes += await dirBytes(dir);
    if (!options.dryRun) await rm(dir, { recursive: true, force: true });
  }
  let oldestNeededWal: string | null = null;
  for (const m of keep.filter((k) => k.kind === "base")) {
    const wal = await startWalFile(options.backupRoot, m);
    if (wal !== null && (oldestNeededWal === null || wal.slice(8) < oldestNeededWal.slice(8)))
      oldestNeededWal = wal;
  }
  let removedWalFiles = 0;
  if (oldestNeededWal !== null) {
    let names: string[] = [];
    try {
      names = await readdir(options.walArchiveDir);
    } catch {
      names = [];
    }
    for (const name of names) {
      if (!SEGMENT.test(name) || name.slice(8, 24) >= oldestNeededWal.slice(8)) continue;
      const path = join(options.walArchiveDir, name);
      freedBytes += (await stat(path)).size;
      removedWalFiles++;
      if (!options.dryRun) await rm(path, { force: true });
    }
  }
  const starts = keep.map((m) => Date.parse(m.startedAt));
  return {
    oldestRestorablePoint: new Date(starts.length > 0 ? Math.min(...starts) : options.now.getTime()),
    removedBackups: remove.map((m) => m.id),
    keptBackups: keep.map((m) => m.id),
    removedWalFiles,
    freedBytes,
    oldestNeededWal,
  };
}
