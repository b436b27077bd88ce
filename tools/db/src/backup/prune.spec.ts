/**
 * Backup retention with an injected clock: expired backups go, the newest verified one always stays, and WAL
 * older than the oldest kept base backup's start is removed (history files and newer segments stay).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type BackupManifest, writeManifest } from "./manifest.ts";
import { pruneBackups } from "./prune.ts";

let root: string;
const DAY = 86_400_000;
const NOW = new Date("2026-06-30T02:00:00Z");

function backup(
  id: string,
  daysAgo: number,
  startWal: string,
  verified: boolean | undefined,
): BackupManifest {
  const at = new Date(NOW.getTime() - daysAgo * DAY).toISOString();
  const dir = join(root, "backups", id);
  mkdirSync(join(dir, "data"), { recursive: true });
  writeFileSync(join(dir, "data", "backup_label"), `START WAL LOCATION: 0/5000028 (file ${startWal})\n`);
  const m: BackupManifest = {
    id,
    kind: "base",
    startedAt: at,
    finishedAt: at,
    serverVersion: "18",
    serverVersionNum: 180000,
    database: "taskmaster",
    migrationLevel: null,
    sizeBytes: 1,
    files: [],
    attachments: [],
    attachmentsBytes: 0,
    ...(verified !== undefined && {
      verification: { at, ok: verified, problems: [], rowCounts: {}, restoreSeconds: 1 },
    }),
  };
  return m;
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "taskmaster-prune-"));
  mkdirSync(join(root, "wal"));
  for (const name of [
    "000000010000000000000001",
    "000000010000000000000002",
    "000000010000000000000003",
    "000000020000000000000004",
    "00000002.history",
  ])
    writeFileSync(join(root, "wal", name), "x");
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("pruneBackups", () => {
  it("removes expired backups and the WAL only they needed", async () => {
    await writeManifest(join(root, "backups", "old"), backup("old", 40, "000000010000000000000001", true));
    await writeManifest(join(root, "backups", "kept"), backup("kept", 10, "000000010000000000000003", true));
    const opts = {
      backupRoot: join(root, "backups"),
      walArchiveDir: join(root, "wal"),
      retentionDays: 30,
      now: NOW,
    };
    const dry = await pruneBackups({ ...opts, dryRun: true });
    expect(dry.removedBackups).toEqual(["old"]);
    expect(existsSync(join(root, "backups", "old"))).toBe(true);
    const r = await pruneBackups(opts);
    expect(r).toMatchObject({ removedBackups: ["old"], keptBackups: ["kept"], removedWalFiles: 2 });
    expect(existsSync(join(root, "backups", "old"))).toBe(false);
    expect(readdirSync(join(root, "wal")).sort()).toEqual([
      "000000010000000000000003",
      "00000002.history",
      "000000020000000000000004",
    ]);
  });

  it("always keeps the newest verified backup, however old", async () => {
    await writeManifest(join(root, "backups", "a"), backup("a", 50, "000000010000000000000001", true));
    await writeManifest(join(root, "backups", "b"), backup("b", 40, "000000010000000000000002", false));
    const r = await pruneBackups({
      backupRoot: join(root, "backups"),
      walArchiveDir: join(root, "wal"),
      retentionDays: 30,
      now: NOW,
    });
    expect(r.keptBackups).toEqual(["a"]);
    expect(r.removedBackups).toEqual(["b"]);
    expect(r.removedWalFiles).toBe(0);
  });

  it("keeps everything within the retention", async () => {
    await writeManifest(join(root, "backups", "a"), backup("a", 29, "000000010000000000000001", undefined));
    const r = await pruneBackups({
      backupRoot: join(root, "backups"),
      walArchiveDir: join(root, "wal"),
      retentionDays: 30,
      now: new Date(NOW.getTime()),
    });
    expect(r.removedBackups).toEqual([]);
    expect(r.removedWalFiles).toBe(0);
  });
});
