/**
 * Restore tests: every foreign key of the restored copy is checked (rows written while constraint triggers
 * were off are found), and each verification, passed or failed, is recorded in the backed-up database's
 * `backup_restore_tests` for the monitoring service's alerts. Real PostgreSQL with the migrated schema; the
 * verification round trip uses a logical backup, so it needs a pg_dump of the server's major version (the
 * machine's PostgreSQL 15 with its pg_dump; an embedded PostgreSQL 18 has none). Outside src/backup: this
 * suite uses TEST_DATABASE_URL's server (turbo `test`, keyed on it), not a cluster of its own.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestDatabase, type TestDatabase, testServerUrl } from "@taskmaster/testing/test-database";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { takeLogicalBackup } from "./backup/logical-backup.ts";
import { foreignKeyProblems } from "./backup/restore-checks.ts";
import { verifyBackup } from "./backup/verify-backup.ts";

let db: TestDatabase;
let sql: pg.Client;
let work: string;

/** Whether pg_dump on PATH has the test server's major version (logical backups refuse anything else). */
async function pgDumpMatchesServer(): Promise<boolean> {
  const c = new pg.Client({ connectionString: await testServerUrl() });
  await c.connect();
  try {
    const server = Math.floor(
      Number((await c.query("SHOW server_version_num")).rows[0]?.server_version_num) / 10000,
    );
    const out = execFileSync("pg_dump", ["--version"], { encoding: "utf8" });
    return Number(/(\d+)/.exec(out)?.[1]) === server;
  } catch {
    return false;
  } finally {
    await c.end();
  }
}
const dumpMatches = await pgDumpMatchesServer();

beforeAll(async () => {
  db = await createTestDatabase();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  work = mkdtempSync(join(tmpdir(), "taskmaster-restore-checks-"));
}, 120_000);

afterAll(async () => {
  await sql?.end();
  await db?.drop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function orphanAttachment(): Promise<string> {
  const id = randomUUID();
  // Constraint triggers off (as a faulty bulk load or a damaged copy would leave it).
  await sql.query("BEGIN");
  await sql.query("SET LOCAL session_replication_role = replica");
  await sql.query(
    `insert into task_attachments (id, task_id, filename, storage_key, size_bytes, mime_type)
     values ($1, $2, 'orphan.txt', $3, 1, 'text/plain')`,
    [id, randomUUID(), "0".repeat(64)],
  );
  await sql.query("COMMIT");
  return id;
}

describe("restore tests", () => {
  it("finds rows whose foreign key points at a missing row", async () => {
    expect(await foreignKeyProblems(sql)).toEqual([]);
    const id = await orphanAttachment();
    try {
      const problems = await foreignKeyProblems(sql);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(
        /^foreign key \S+ on task_attachments: 1 row\(s\) reference a missing row of tasks$/,
      );
    } finally {
      await sql.query("delete from task_attachments where id = $1", [id]);
    }
  });

  it.runIf(dumpMatches)(
    "records each restore test, passed and failed, for the monitoring service (pg_dump of the server's version)",
    async () => {
      const backupRoot = join(work, "backups");
      const at = new Date("2026-07-01T02:00:00Z");
      const good = await takeLogicalBackup({ url: db.url, backupRoot, now: () => at });
      const passed = await verifyBackup({ backupRoot, manifest: good, url: db.url, now: () => at });
      expect(passed.problems).toEqual([]);
      expect(passed.ok).toBe(true);
      expect(passed.rowCounts["public.alert_rules"]).toBeGreaterThan(0);

      const id = await orphanAttachment();
      const later = new Date("2026-07-02T02:00:00Z");
      try {
        const bad = await takeLogicalBackup({ url: db.url, backupRoot, now: () => later });
        const failed = await verifyBackup({ backupRoot, manifest: bad, url: db.url, now: () => later });
        expect(failed.ok).toBe(false);
        expect(failed.problems.join("\n")).toMatch(/task_attachments/);
      } finally {
        await sql.query("delete from task_attachments where id = $1", [id]);
      }
      const { rows } = await sql.query<{ backup_id: string; ok: boolean; tested_at: Date }>(
        "select backup_id, ok, tested_at from backup_restore_tests order by tested_at",
      );
      expect(rows.map((r) => [r.backup_id.endsWith("-logical"), r.ok, r.tested_at.toISOString()])).toEqual([
        [true, true, at.toISOString()],
        [true, false, later.toISOString()],
      ]);
    },
    120_000,
  );
});
