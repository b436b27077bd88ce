/**
 * A deleted attachment's file stays while a retained backup can restore its row, and goes with the pruning
 * that removes the last such backup (injected clock: 30-day retention without waiting). Real PostgreSQL
 * (the migrated schema, its deletion trigger and advisory locks), real files, the `db prune-backups` command.
 */
import { createHash, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackupCommand } from "./backup/backup-cli.ts";
import { type BackupManifest, writeManifest } from "./backup/manifest.ts";

const DAY = 86_400_000;
let db: TestDatabase;
let sql: pg.Client;
let work: string;

beforeAll(async () => {
  db = await createTestDatabase();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  work = mkdtempSync(join(tmpdir(), "taskmaster-attachment-prune-"));
}, 120_000);

afterAll(async () => {
  await sql?.end();
  await db?.drop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A backup as the backup commands leave it (only its manifest matters to pruning). */
async function backupAt(at: Date): Promise<string> {
  const id = `${at.toISOString().replace(/[-:.]/g, "")}-logical`;
  const m: BackupManifest = {
    id,
    kind: "logical",
    startedAt: at.toISOString(),
    finishedAt: new Date(at.getTime() + 1000).toISOString(),
    serverVersion: "15",
    serverVersionNum: 150000,
    database: db.name,
    migrationLevel: null,
    sizeBytes: 1,
    files: [],
    attachments: [],
    attachmentsBytes: 0,
  };
  await writeManifest(join(work, "backups", id), m);
  return id;
}

function storeFile(content: string): { key: string; path: string } {
  const key = sha256(content);
  const path = join(work, "attachments", key.slice(0, 2), key);
  mkdirSync(join(work, "attachments", key.slice(0, 2)), { recursive: true });
  writeFileSync(path, content);
  return { key, path };
}

function sha256(content: string): string {
  return createHash("sha256").update(content).digest("hex");
}

async function attach(taskId: string, key: string): Promise<string> {
  const id = randomUUID();
  await sql.query(
    `insert into task_attachments (id, task_id, filename, storage_key, size_bytes, mime_type)
     values ($1, $2, 'f.txt', $3, 1, 'text/plain')`,
    [id, taskId, key],
  );
  return id;
}

async function prune(now: Date) {
  const out: string[] = [];
  const code = await runBackupCommand("prune-backups", ["--json"], {
    env: {
      DB_BACKUP_DIR: join(work, "backups"),
      DB_WAL_ARCHIVE_DIR: join(work, "wal"),
      TASK_ATTACHMENT_DIR: join(work, "attachments"),
    },
    url: db.url,
    out: (l) => out.push(l),
    progress: () => {},
    now: () => now,
  });
  expect(code).toBe(0);
  return JSON.parse(out.join("\n")) as {
    removedBackups: string[];
    keptBackups: string[];
    attachments: { removedFiles: number; keptFiles: number };
  };
}

describe("deleted attachments' files and backup retention", () => {
  it("keeps a deleted attachment's file until no retained backup can restore its row", async () => {
    const taskId = randomUUID();
    await sql.query(`insert into tasks (id, title) values ($1, 'with files')`, [taskId]);
    const gone = storeFile(`deleted content ${randomUUID()}`);
    const back = storeFile(`re-uploaded content ${randomUUID()}`);
    const goneRow = await attach(taskId, gone.key);
    const backRow = await attach(taskId, back.key);
    const now = new Date(
      (await sql.query<{ t: Date }>("select now() as t")).rows[0]?.t.getTime() ?? Date.now(),
    );

    // A backup from yesterday holds both rows; then both rows are deleted (the trigger notes when).
    const old = await backupAt(new Date(now.getTime() - DAY));
    await sql.query("delete from task_attachments where id = any($1)", [[goneRow, backRow]]);
    const noted = await sql.query(
      "select storage_key from attachment_deletions where storage_key = any($1)",
      [[gone.key, back.key]],
    );
    expect(noted.rowCount).toBe(2);

    // Today: yesterday's backup is retained and can restore the rows, so the files stay.
    let r = await prune(new Date(now.getTime() + 60_000));
    expect(r.keptBackups).toEqual([old]);
    expect(r.attachments).toMatchObject({ removedFiles: 0, keptFiles: 2 });
    expect(existsSync(gone.path)).toBe(true);
    expect(existsSync(back.path)).toBe(true);

    // The same content is uploaded again (a new row references it).
    await attach(taskId, back.key);

    // A backup tomorrow, and 32 days later yesterday's backup expires: nothing retained predates the
    // deletion, so the unreferenced file goes; the referenced one stays; both notes are done.
    const next = await backupAt(new Date(now.getTime() + DAY));
    r = await prune(new Date(now.getTime() + 32 * DAY));
    expect(r.removedBackups).toEqual([old]);
    expect(r.keptBackups).toEqual([next]);
    expect(r.attachments).toMatchObject({ removedFiles: 1, keptFiles: 0 });
    expect(existsSync(gone.path)).toBe(false);
    expect(existsSync(back.path)).toBe(true);
    const left = await sql.query("select 1 from attachment_deletions where storage_key = any($1)", [
      [gone.key, back.key],
    ]);
    expect(left.rowCount).toBe(0);
  }, 60_000);
});
