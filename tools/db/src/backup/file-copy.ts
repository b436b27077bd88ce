/**
 * Copies a directory tree file by file, hashing each file (SHA-256) while it is copied: one read of the
 * source gives both the copy and its checksum. Files that vanish during the copy (a live data directory)
 * are skipped; `skip` names relative paths whose contents are left out (their directory is still made).
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { pipeline } from "node:stream/promises";

export interface CopiedFile {
  /** Path relative to the copied root, `/`-separated. */
  path: string;
  size: number;
  sha256: string;
}

export interface CopyOptions {
  /** Relative directory paths whose contents are not copied (the empty directory is). */
  skipContents?: ReadonlySet<string>;
  /** Relative file paths (or base names) left out. */
  skipFiles?: (relativePath: string) => boolean;
  /** Called after each file with the bytes copied so far. */
  onProgress?: (bytes: number) => void;
}

const WHOLE_FILE = 8 << 20;

async function hashCopy(from: string, to: string): Promise<{ size: number; sha256: string }> {
  const info = await stat(from);
  if (info.size <= WHOLE_FILE) {
    // Small files (most of a data directory): one read, one write, no stream machinery.
    const bytes = await readFile(from);
    await writeFile(to, bytes, { mode: 0o600 });
    return { size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
  }
  const hash = createHash("sha256");
  let size = 0;
  const source = createReadStream(from, { highWaterMark: 1 << 20 });
  source.on("data", (chunk) => {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  });
  await pipeline(source, createWriteStream(to, { mode: 0o600 }));
  return { size, sha256: hash.digest("hex") };
}

/** Copies `fromRoot` into `toRoot` (created); returns every copied file with size and checksum. */
export async function copyTree(
  fromRoot: string,
  toRoot: string,
  options: CopyOptions = {},
): Promise<CopiedFile[]> {
  const files: CopiedFile[] = [];
  let bytes = 0;
  const walk = async (dir: string): Promise<void> => {
    const rel = relative(fromRoot, dir).split("\\").join("/");
    await mkdir(join(toRoot, rel), { recursive: true, mode: 0o700 });
    if (rel !== "" && options.skipContents?.has(rel)) return;
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      const relPath = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        await walk(path);
      } else if (entry.isFile()) {
        if (options.skipFiles?.(relPath)) continue;
        try {
          const copied = await hashCopy(path, join(toRoot, relPath));
          files.push({ path: relPath, ...copied });
          bytes += copied.size;
          options.onProgress?.(bytes);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
        }
      }
    }
  };
  await walk(fromRoot);
  return files;
}

/** Checks every listed file under `root` against its recorded size and SHA-256; returns the mismatches. */
export async function checkFiles(
  root: string,
  files: readonly CopiedFile[],
  onProgress?: (bytes: number) => void,
): Promise<string[]> {
  const problems: string[] = [];
  let bytes = 0;
  for (const file of files) {
    const path = join(root, file.path);
    try {
      const info = await stat(path);
      if (info.size !== file.size) {
        problems.push(`${file.path}: size ${info.size}, manifest says ${file.size}`);
        continue;
      }
      const { sha256: sha } = await hashFile(path);
      if (sha !== file.sha256) problems.push(`${file.path}: checksum mismatch`);
      bytes += file.size;
      onProgress?.(bytes);
    } catch (error) {
      problems.push(`${file.path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
  return problems;
}

/** Size and SHA-256 of one file. */
export async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const info = await stat(path);
  if (info.size <= WHOLE_FILE) {
    const bytes = await readFile(path);
    return { size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
  }
  const hash = createHash("sha256");
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), hash);
  return { size: (await stat(path)).size, sha256: hash.digest("hex") };
}

/** Compares copied files with the recorded ones (same paths, sizes and checksums); returns mismatches. */
export function compareFiles(copied: readonly CopiedFile[], recorded: readonly CopiedFile[]): string[] {
  const byPath = new Map(copied.map((f) => [f.path, f]));
  const problems: string[] = [];
  for (const want of recorded) {
    const got = byPath.get(want.path);
    if (!got) problems.push(`${want.path}: missing`);
    else if (got.size !== want.size || got.sha256 !== want.sha256)
      problems.push(`${want.path}: checksum mismatch`);
  }
  return problems;
}
