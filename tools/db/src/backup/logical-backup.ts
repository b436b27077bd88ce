/**
 * Logical backup (`pg_dump -Fc`, compressed, portable across versions upward) and its restore
 * (`pg_restore`). pg_dump is used only when its major version equals the server's: an older pg_dump refuses
 * a newer server, a newer one writes archives older pg_restore cannot read. Otherwise one clear line.
 */
import { execFile, spawn } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { copyAttachments } from "./attachments.ts";
import { checkFiles, hashFile } from "./file-copy.ts";
import { type BackupManifest, backupId, writeManifest } from "./manifest.ts";
import { serverInfo } from "./server-info.ts";

const run = promisify(execFile);

/** Major version of a client tool on PATH, or null when it is missing. */
export async function toolMajor(tool: "pg_dump" | "pg_restore"): Promise<number | null> {
  try {
    const { stdout } = await run(tool, ["--version"]);
    const m = /(\d+)(?:\.\d+)?/.exec(stdout);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export async function requireMatchingTool(
  tool: "pg_dump" | "pg_restore",
  serverVersionNum: number,
): Promise<void> {
  const server = Math.floor(serverVersionNum / 10000);
  const major = await toolMajor(tool);
  if (major !== server)
    throw new Error(
      `logical backups need ${tool} ${server} (the server is PostgreSQL ${server}; ${major === null ? `no ${tool} on PATH` : `found ${tool} ${major}`}): use --kind base`,
    );
}

function spawnTool(tool: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${tool} failed (${code}): ${stderr.trim().split("\n").slice(-3).join(" ")}`)),
    );
  });
}

export interface LogicalBackupTarget {
  url: string;
  backupRoot: string;
  attachmentsDir?: string | undefined;
  onProgress?: (message: string) => void;
  now?: () => Date;
}

export async function takeLogicalBackup(target: LogicalBackupTarget): Promise<BackupManifest> {
  const now = target.now ?? (() => new Date());
  const client = new pg.Client({ connectionString: target.url });
  await client.connect();
  let info: Awaited<ReturnType<typeof serverInfo>>;
  try {
    info = await serverInfo(client);
  } finally {
    await client.end();
  }
  await requireMatchingTool("pg_dump", info.serverVersionNum);
  const started = now();
  const id = backupId("logical", started);
  const dir = join(target.backupRoot, id);
  await mkdir(join(dir, "dump"), { recursive: true, mode: 0o700 });
  try {
    target.onProgress?.(`logical backup ${id}: pg_dump -Fc`);
    await spawnTool(
      "pg_dump",
      ["-Fc", "-Z", "6", "--no-owner", "-f", join(dir, "dump", "database.pgdump"), "-d", target.url],
      {},
    );
    const files = [{ path: "database.pgdump", ...(await hashFile(join(dir, "dump", "database.pgdump"))) }];
    const attachments = await copyAttachments(target.attachmentsDir, join(dir, "attachments"));
    const manifest: BackupManifest = {
      id,
      kind: "logical",
      startedAt: started.toISOString(),
      finishedAt: now().toISOString(),
      serverVersion: info.serverVersion,
      serverVersionNum: info.serverVersionNum,
      database: info.database,
      migrationLevel: info.migrationLevel,
      sizeBytes: files[0]?.size ?? 0,
      files,
      attachments,
      attachmentsBytes: attachments.reduce((a, f) => a + f.size, 0),
    };
    await writeManifest(dir, manifest);
    target.onProgress?.(`logical backup ${id}: ${manifest.sizeBytes} bytes (compressed)`);
    return manifest;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Restores a logical backup into the database at `url` (must be empty unless `replace`). */
export async function restoreLogical(options: {
  backupRoot: string;
  manifest: BackupManifest;
  url: string;
  replace?: boolean;
  onProgress?: (message: string) => void;
}): Promise<{ seconds: number }> {
  const { manifest } = options;
  if (manifest.kind !== "logical")
    throw new Error(`backup ${manifest.id} is ${manifest.kind}: restore it --into a directory`);
  const dir = join(options.backupRoot, manifest.id);
  const problems = await checkFiles(join(dir, "dump"), manifest.files);
  if (problems.length > 0)
    throw new Error(`backup files differ from the manifest: ${problems.slice(0, 3).join("; ")}`);
  const client = new pg.Client({ connectionString: options.url });
  await client.connect();
  try {
    const info = await serverInfo(client);
    await requireMatchingTool("pg_restore", info.serverVersionNum);
    const tables = await client.query(
      "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema') LIMIT 1",
    );
    if ((tables.rowCount ?? 0) > 0 && !options.replace)
      throw new Error(
        `database ${info.database} already has tables: restore into a new database, or pass --replace`,
      );
  } finally {
    await client.end();
  }
  const started = performance.now();
  options.onProgress?.(`restore ${manifest.id}: pg_restore`);
  await spawnTool(
    "pg_restore",
    [
      "--no-owner",
      "--exit-on-error",
      "--single-transaction",
      ...(options.replace ? ["--clean", "--if-exists"] : []),
      "-d",
      options.url,
      join(dir, "dump", "database.pgdump"),
    ],
    {},
  );
  return { seconds: (performance.now() - started) / 1000 };
}
