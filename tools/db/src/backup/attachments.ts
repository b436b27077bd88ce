/**
 * Attachments (the content-addressed store of the task service) travel with every backup and restore.
 * Files are immutable and named by their hash, so a copy taken after the database copy holds every file a
 * restored row can point to (rows are removed before their files, see the backup pruning rule).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
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
