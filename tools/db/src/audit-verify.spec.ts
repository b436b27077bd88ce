/**
 * `db audit verify` reports the first broken link of the audit hash chain after a row is tampered with (as
 * superuser), and `db audit retention` reports what it removed. Runs the CLI source like db.spec.ts.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const CLI = resolve(import.meta.dirname, "db.ts");

async function db(args: string[], url: string) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, DATABASE_URL: url },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

let target: TestDatabase;
let client: pg.Client;

beforeAll(async () => {
  target = await createTestDatabase();
  client = new pg.Client({ connectionString: target.url });
  await client.connect();
});

afterAll(async () => {
  await client?.end();
  await target?.drop();
});

describe("db audit", () => {
  it("verify seals and passes on an intact chain, then reports the first tampered row", async () => {
    for (let i = 0; i < 4; i++) {
      await client.query("insert into tasks (id, title) values ($1, 'Chained task')", [randomUUID()]);
    }
    const ok = await db(["audit", "verify"], target.url);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("4 newly sealed");
    expect(ok.stdout).toContain("audit chain OK");

    const seqs = (await client.query<{ seq: string }>("select seq from audit_log order by seq")).rows;
    const victim = seqs[2]?.seq;
    await client.query("update audit_log set actor = 'someone-else' where seq = $1", [victim]);
    const broken = await db(["audit", "verify"], target.url);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain(`audit chain BROKEN at seq ${victim}`);
    expect(broken.stdout).toContain("does not match its hash");
  });

  it("retention reports nothing expired on a fresh database and rejects a bad --days", async () => {
    const r = await db(["audit", "retention", "--days", "30"], target.url);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("audit retention (30 days): nothing expired");
    const bad = await db(["audit", "retention", "--days", "0"], target.url);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--days");
  });
});
