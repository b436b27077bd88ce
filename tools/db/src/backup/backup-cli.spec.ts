/**
 * The backup commands end to end, as an operator runs them (`db.ts` as a process), against a throwaway
 * embedded PostgreSQL with WAL archiving: backup + verification, listing, point-in-time restore into a new
 * directory (rows exactly those committed before T, attachments restored), refusals, tamper detection.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { promisify } from "node:util";
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from "@taskmaster/testing/embedded";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKUP_COMMANDS, runBackupCommand } from "./backup-cli.ts";
import { walArchiveFlags } from "./wal-archive.ts";

const run = promisify(execFile);
const CLI = resolve(import.meta.dirname, "..", "db.ts");

let work: string;
let server: EmbeddedPostgresHandle;
let env: Record<string, string>;
let client: pg.Client;

async function db(args: string[], extra: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env, ...extra },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

async function archivedThrough(segment: string): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    const { rows } = await client.query<{ w: string | null }>(
      "SELECT last_archived_wal AS w FROM pg_stat_archiver",
    );
    if ((rows[0]?.w ?? "") >= segment) return;
    if (Date.now() > until) throw new Error(`segment ${segment} not archived`);
    await delay(50);
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "taskmaster-backup-spec-"));
  const archive = join(work, "archive");
  server = await startEmbeddedPostgres({
    dataDir: join(work, "primary"),
    postgresFlags: walArchiveFlags(archive, 60),
  });
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query("CREATE DATABASE taskmaster");
  await admin.end();
  const url = new URL(server.url);
  url.pathname = "/taskmaster";
  client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  await client.query("CREATE TABLE item (id int PRIMARY KEY, note text)");
  await client.query("INSERT INTO item SELECT g, 'row ' || g FROM generate_series(1, 100) g");
  const attachments = join(work, "attachments");
  mkdirSync(join(attachments, "ab"), { recursive: true });
  writeFileSync(join(attachments, "ab", "ab".padEnd(64, "0")), "attachment bytes");
  env = {
    DATABASE_URL: url.toString(),
    MIGRATION_DATABASE_URL: "",
    DB_BACKUP_DIR: join(work, "backups"),
    DB_WAL_ARCHIVE_DIR: archive,
    TASK_ATTACHMENT_DIR: attachments,
  };
}, 120_000);

afterAll(async () => {
  await client?.end().catch(() => {});
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("db backup commands", () => {
  it("every command's --help names it in its usage line", async () => {
    for (const command of BACKUP_COMMANDS) {
      const out: string[] = [];
      const code = await runBackupCommand(command, ["--help"], {
        env,
        url: undefined,
        out: (l) => out.push(l),
        progress: () => {},
      });
      expect(code, command).toBe(0);
      expect(out.join("\n").split("\n")[0]).toMatch(new RegExp(`^Usage: taskmaster db ${command}( |$)`));
    }
    // and the real command line reaches them
    const r = await db(["drill", "--help"]);
    expect(r.stdout).toMatch(/^Usage: taskmaster db drill /);
  });

  it("takes a verified base backup, lists it, and recovers to a point in time into a new directory", async () => {
    const backup = await db(["backup", "--json"]);
    expect(backup.code, backup.stderr).toBe(0);
    const made = JSON.parse(backup.stdout) as {
      id: string;
      kind: string;
      verified: boolean;
      verification: { rowCounts: Record<string, number> };
    };
    expect(made.kind).toBe("base");
    expect(made.verified).toBe(true);
    expect(made.verification.rowCounts["public.item"]).toBe(100);
    const manifest = JSON.parse(
      readFileSync(join(env.DB_BACKUP_DIR ?? "", made.id, "manifest.json"), "utf8"),
    );
    expect(manifest.attachments).toHaveLength(1);
    expect(manifest.files.length).toBeGreaterThan(100);
    expect(manifest.files.every((f: { sha256: string }) => /^[0-9a-f]{64}$/.test(f.sha256))).toBe(true);

    const list = await db(["backups", "--json"]);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ id: made.id, kind: "base", verified: true }),
    ]);

    // Rows 101..150 before T, 151..200 after; all WAL archived. An attachment uploaded after the backup
    // (only in the live store) comes back with a restore to T.
    await client.query("INSERT INTO item SELECT g, 'before T' FROM generate_series(101, 150) g");
    const later = "uploaded after the backup";
    const laterKey = createHash("sha256").update(later).digest("hex");
    mkdirSync(join(env.TASK_ATTACHMENT_DIR ?? "", laterKey.slice(0, 2)), { recursive: true });
    writeFileSync(join(env.TASK_ATTACHMENT_DIR ?? "", laterKey.slice(0, 2), laterKey), later);
    const t = (
      await client.query<{ t: string }>(
        `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
      )
    ).rows[0]?.t;
    await client.query("INSERT INTO item SELECT g, 'after T' FROM generate_series(151, 200) g");
    const seg = (await client.query<{ f: string }>("SELECT pg_walfile_name(pg_switch_wal()) AS f")).rows[0]
      ?.f;
    await archivedThrough(seg ?? "");

    const into = join(work, "restored");
    const restore = await db(["restore", "--time", t ?? "", "--into", into, "--json"]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(JSON.parse(restore.stdout)).toMatchObject({
      backup: made.id,
      time: t,
      attachments: 1,
      attachmentsFromStore: 1,
    });
    expect(readFileSync(join(`${into}-attachments`, "ab", "ab".padEnd(64, "0")), "utf8")).toBe(
      "attachment bytes",
    );
    expect(readFileSync(join(`${into}-attachments`, laterKey.slice(0, 2), laterKey), "utf8")).toBe(later);
    const restored = await startEmbeddedPostgres({ dataDir: into });
    try {
      const url = new URL(restored.url);
      url.pathname = "/taskmaster";
      const c = new pg.Client({ connectionString: url.toString() });
      await c.connect();
      const { rows } = await c.query<{ n: string; hi: number }>(
        "SELECT count(*) AS n, max(id) AS hi FROM item",
      );
      await c.end();
      expect(rows[0]).toEqual({ n: "150", hi: 150 });
    } finally {
      await restored.stop();
    }

    // A second restore into the same (now non-empty) directory is refused without --replace …
    const again = await db(["restore", "--backup", made.id, "--into", into]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain("--replace");
    // … and the live primary's directory is refused even with it.
    const live = await db(["restore", "--backup", made.id, "--into", server.dataDir, "--replace"]);
    expect(live.code).not.toBe(0);
    expect(live.stderr).toMatch(/in use by a running server/);
    // A tampered backup fails verification.
    const victim = manifest.files.find(
      (f: { path: string; size: number }) => f.path.startsWith("base/") && f.size > 0,
    );
    writeFileSync(join(env.DB_BACKUP_DIR ?? "", made.id, "data", victim.path), "tampered");
    const verify = await db(["verify-backup", made.id, "--json"]);
    expect(verify.code).toBe(1);
    expect(JSON.parse(verify.stdout).problems.join(" ")).toContain(victim.path);
  }, 240_000);

  it("refuses a logical backup with a pg_dump of another major version in one clear line", async () => {
    const r = await db(["backup", "--kind", "logical"]);
    const { rows } = await client.query<{ n: string }>("SELECT current_setting('server_version_num') AS n");
    const serverMajor = Math.floor(Number(rows[0]?.n) / 10000);
    let dumpMajor: number | null = null;
    try {
      dumpMajor = Number(/(\d+)/.exec((await run("pg_dump", ["--version"])).stdout)?.[1]);
    } catch {
      dumpMajor = null;
    }
    if (dumpMajor === serverMajor) {
      expect(r.code, r.stderr).toBe(0);
    } else {
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split("\n").at(-1)).toMatch(
        new RegExp(`logical backups need pg_dump ${serverMajor} .*use --kind base`),
      );
    }
  }, 60_000);
  it("fails the restore test of a base backup whose copy has rows pointing at missing rows", async () => {
    await client.query("CREATE TABLE parent (id int PRIMARY KEY)");
    await client.query("CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id))");
    await client.query("INSERT INTO parent VALUES (1)");
    // Written with constraint triggers off, as a faulty load or a damaged copy would leave it.
    await client.query("BEGIN");
    await client.query("SET LOCAL session_replication_role = replica");
    await client.query("INSERT INTO child VALUES (1, 1), (2, 2), (3, NULL)");
    await client.query("COMMIT");
    const backup = await db(["backup", "--json"]);
    expect(backup.code).not.toBe(0);
    const made = JSON.parse(backup.stdout) as { verified: boolean; verification: { problems: string[] } };
    expect(made.verified).toBe(false);
    expect(made.verification.problems).toEqual([
      "foreign key child_parent_id_fkey on child: 1 row(s) reference a missing row of parent",
    ]);
  }, 240_000);
});
