/**
 * The launcher's share of backups on the embedded cluster: WAL archiving flags (archive folder writable by
 * the postgres user) and the `backup` member, `db backup-daemon` (daily backups, verification, pruning),
 * started when DB_BACKUP_ENABLED is not false.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { isAbsolute, join } from "node:path";
import { createInterface } from "node:readline";
import type { BackupConfig } from "@taskmaster/config/backup-config";
import { walArchiveFlags } from "@taskmaster/db-tools/backup/wal-archive";

/** The config with its folders resolved against the repository root (the launcher's working directory). */
export function resolveBackupPaths(config: BackupConfig, root: string): BackupConfig {
  const at = (p: string) => (isAbsolute(p) ? p : join(root, p));
  return { ...config, backupDir: at(config.backupDir), walArchiveDir: at(config.walArchiveDir) };
}

export function archiveFlags(config: BackupConfig): string[] {
  return walArchiveFlags(config.walArchiveDir, config.archiveTimeoutSeconds);
}

export function startBackupMember(
  root: string,
  ownerUrl: string,
  config: BackupConfig,
  env: NodeJS.ProcessEnv,
): ChildProcess {
  const child = spawn(process.execPath, [join(root, "tools/db/dist/db.js"), "backup-daemon"], {
    cwd: root,
    env: {
      ...env,
      DATABASE_URL: ownerUrl,
      MIGRATION_DATABASE_URL: ownerUrl,
      DB_BACKUP_DIR: config.backupDir,
      DB_WAL_ARCHIVE_DIR: config.walArchiveDir,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const stream of [child.stdout, child.stderr])
    createInterface({ input: stream }).on("line", (line) => process.stdout.write(`backup | ${line}\n`));
  return child;
}

export async function stopBackupMember(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  await exited;
}
