/** The manifest written beside every backup (`<backup dir>/<id>/manifest.json`) and the listing of them. */
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CopiedFile } from "./file-copy.ts";

export type BackupKind = "base" | "logical";

export interface BackupManifest {
  id: string;
  kind: BackupKind;
  /** When the backup started / finished (ISO). For a base backup `finishedAt` is the earliest restore point. */
  startedAt: string;
  finishedAt: string;
  serverVersion: string;
  serverVersionNum: number;
  /** Database the backup was taken through (its rows are counted on verification). */
  database: string;
  /** Newest applied migration, or null when the database has none. */
  migrationLevel: string | null;
  /** Bytes of database files (base) or of the dump (logical), without attachments. */
  sizeBytes: number;
  /** WAL positions and the archive a base backup needs. */
  startLsn?: string;
  stopLsn?: string;
  walArchiveDir?: string;
  /** Checksummed files: the data directory copy (base) or the dump (logical). */
  files: CopiedFile[];
  /** Attachment files (content-addressed store), copied with the backup. */
  attachments: CopiedFile[];
  attachmentsBytes: number;
  verification?: {
    at: string;
    ok: boolean;
    problems: string[];
    /** Rows per table of `database` in the restored copy. */
    rowCounts: Record<string, number>;
    restoreSeconds: number;
  };
}

export const MANIFEST = "manifest.json";

export function backupId(kind: BackupKind, at: Date): string {
  return `${at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}-${kind}`;
}

export async function writeManifest(dir: string, manifest: BackupManifest): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `${MANIFEST}.tmp`);
  await writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, join(dir, MANIFEST));
}

export async function readManifest(dir: string): Promise<BackupManifest> {
  return JSON.parse(await readFile(join(dir, MANIFEST), "utf8")) as BackupManifest;
}

/** Every complete backup (one with a manifest) under `backupRoot`, oldest first. */
export async function listBackups(backupRoot: string): Promise<BackupManifest[]> {
  let names: string[];
  try {
    names = await readdir(backupRoot);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const out: BackupManifest[] = [];
  for (const name of names) {
    try {
      out.push(await readManifest(join(backupRoot, name)));
    } catch {
      // no manifest: an unfinished or foreign folder
    }
  }
  return out.sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
}

export async function findBackup(backupRoot: string, id?: string): Promise<BackupManifest> {
  const all = await listBackups(backupRoot);
  const found = id === undefined ? all.at(-1) : all.find((b) => b.id === id);
  if (!found)
    throw new Error(id === undefined ? `no backup in ${backupRoot}` : `no backup "${id}" in ${backupRoot}`);
  return found;
}
