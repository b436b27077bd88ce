/**
 * Attachments (the content-addressed store of the task service) travel with every backup and restore.
 * Files are immutable and named by their hash, so a copy taken after the database copy holds every file a
 * restored row can point to (rows are removed before their files, see the backup pruning rule).
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { type CopiedFile, compareFiles, copyTree } from "./file-copy.ts";

export async function copyAttachments(from: string | undefined, to: string): Promise<CopiedFile[]> {
  if (from === undefined || !existsSync(from)) return [];
  return copyTree(from, to, { skipContents: new Set([".tmp"]) });
}

/** Copies a backup's attachments into `into` (merging: names are content hashes) and checks them. */
export async function restoreAttachments(
  backupDir: string,
  files: readonly CopiedFile[],
  into: string,
): Promise<string[]> {
  if (files.length === 0) return [];
  return compareFiles(await copyTree(join(backupDir, "attachments"), into), files);
}

/**
 * After a point-in-time restore: files of the live store (`from`) that the backup's copy lacks, i.e. uploaded
 * after the backup. Deleted attachments' files stay in the store while a retained backup can restore their
 * rows, so every row a restore to a retained point brings back finds its file here. A file is copied only when
 * its content matches its name (the content hash); others are reported.
 */
export async function mergeStoreAttachments(
  from: string | undefined,
  into: string,
): Promise<{ copied: number; problems: string[] }> {
  const out = { copied: 0, problems: [] as string[] };
  if (from === undefined || !existsSync(from) || resolve(from) === resolve(into)) return out;
  for (const shard of await readdir(from)) {
    if (!/^[0-9a-f]{2}$/.test(shard)) continue;
    for (const name of await readdir(join(from, shard))) {
      if (!name.startsWith(shard) || !/^[0-9a-f]{64}$/.test(name) || existsSync(join(into, shard, name)))
        continue;
      const bytes = await readFile(join(from, shard, name));
      if (createHash("sha256").update(bytes).digest("hex") !== name) {
        out.problems.push(`${shard}/${name}: content does not match its name`);
        continue;
      }
      await mkdir(join(into, shard), { recursive: true, mode: 0o700 });
      await writeFile(join(into, shard, name), bytes, { mode: 0o600 });
      out.copied++;
    }
  }
  return out;
}
