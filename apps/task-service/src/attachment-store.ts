/**
 * Content-addressed file store for attachment bytes: `<dir>/<sha256[0..2]>/<sha256>`. An upload streams
 * into a temp file in `<dir>/.tmp` (same file system), is fsynced, and is renamed to its hash only once the
 * metadata row is about to commit; identical content is stored once. Never touches files outside `dir`.
 */
import { createHash, type Hash, randomUUID } from "node:crypto";
import { createReadStream, type ReadStream } from "node:fs";
import { type FileHandle, mkdir, open, rename, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";

const HASH = /^[0-9a-f]{64}$/;

export interface FinishedUpload {
  sha256: string;
  sizeBytes: number;
  /** First bytes of the content (up to 8 KiB), for type sniffing. */
  head: Buffer;
}

export class PendingUpload {
  private size = 0;
  private readonly hash: Hash = createHash("sha256");
  private head = Buffer.alloc(0);
  private closed = false;

  constructor(
    private readonly handle: FileHandle,
    readonly tempPath: string,
  ) {}

  get bytesWritten(): number {
    return this.size;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.hash.update(chunk);
    if (this.head.length < 8192) {
      this.head = Buffer.concat([this.head, Buffer.from(chunk.subarray(0, 8192 - this.head.length))]);
    }
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset);
      offset += bytesWritten;
    }
    this.size += chunk.length;
  }

  /** Flushes to disk and closes the temp file. */
  async finish(): Promise<FinishedUpload> {
    await this.handle.sync();
    await this.close();
    return { sha256: this.hash.digest("hex"), sizeBytes: this.size, head: this.head };
  }

  /** Closes and deletes the temp file (idempotent). */
  async discard(): Promise<void> {
    await this.close();
    await rm(this.tempPath, { force: true });
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

export class AttachmentStore {
  constructor(readonly dir: string) {}

  private tempDir(): string {
    return join(this.dir, ".tmp");
  }

  pathOf(sha256: string): string {
    if (!HASH.test(sha256)) throw new Error("invalid content hash");
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  /** Opens a new temp file for an upload. */
  async begin(): Promise<PendingUpload> {
    await mkdir(this.tempDir(), { recursive: true });
    const tempPath = join(this.tempDir(), `${randomUUID()}.part`);
    const handle = await open(tempPath, "wx", 0o600);
    return new PendingUpload(handle, tempPath);
  }

  /**
   * Moves a finished temp file to its content address. If identical content is already stored the temp
   * file is dropped instead (dedupe). Returns true when this call created the stored file.
   */
  async place(upload: PendingUpload, sha256: string): Promise<boolean> {
    const target = this.pathOf(sha256);
    if (await this.exists(sha256)) {
      await upload.discard();
      return false;
    }
    const shard = join(this.dir, sha256.slice(0, 2));
    await mkdir(shard, { recursive: true });
    await rename(upload.tempPath, target);
    await fsyncDir(shard);
    return true;
  }

  async exists(sha256: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(sha256))).isFile();
    } catch {
      return false;
    }
  }

  /** Reads stored content in chunks of `chunkSize` bytes. */
  read(sha256: string, chunkSize: number): ReadStream {
    return createReadStream(this.pathOf(sha256), { highWaterMark: chunkSize });
  }

  async remove(sha256: string): Promise<void> {
    try {
      await unlink(this.pathOf(sha256));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
}

async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } catch {
    // Some file systems do not support fsync on directories; the rename itself is still atomic.
  } finally {
    await handle.close();
  }
}

/**
 * Attachment settings from the environment: `TASK_ATTACHMENT_DIR` (default `.data/attachments`) and
 * `TASK_ATTACHMENT_MAX_BYTES` (default 25 MiB; a positive integer, else start-up fails).
 */
export function attachmentConfigFromEnv(env: Readonly<Record<string, string | undefined>>): {
  attachmentDir: string;
  attachmentMaxBytes: number;
} {
  const dir = env.TASK_ATTACHMENT_DIR?.trim() || ".data/attachments";
  const rawMax = env.TASK_ATTACHMENT_MAX_BYTES?.trim() ?? "";
  const max = rawMax === "" ? 25 * 1024 * 1024 : Number(rawMax);
  if (!Number.isSafeInteger(max) || max <= 0) {
    throw new Error(`TASK_ATTACHMENT_MAX_BYTES must be a positive integer (got "${rawMax}")`);
  }
  return { attachmentDir: dir, attachmentMaxBytes: max };
}
