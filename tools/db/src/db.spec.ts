import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { createEmptyTestDatabase, type EmptyTestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
// Node 24 runs the TypeScript source directly (type stripping); no build needed for this test.
const CLI = resolve(import.meta.dirname, "db.ts");

async function db(args: string[], env: Record<string, string | undefined>) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

let target: EmptyTestDatabase;

beforeAll(async () => {
  target = await createEmptyTestDatabase();
});

afterAll(async () => {
  await target?.drop();
});

describe("db CLI", () => {
  it("prints help", async () => {
    const r = await db(["--help"], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("migrate up");
    expect(r.stdout).toContain("seed");
  });

  it("fails with one clear line on a missing or malformed DATABASE_URL", async () => {
    const missing = await db(["migrate", "up"], { DATABASE_URL: "" });
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toMatch(/^db: DATABASE_URL is not set/);
    const bad = await db(["migrate", "up"], { DATABASE_URL: "mysql://x" });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("postgres://");
    const unknown = await db(["frobnicate"], { DATABASE_URL: target.url });
    expect(unknown.code).toBe(2);
  });

  it("migrates up, reports status, seeds twice, and migrates down to an empty schema", async () => {
    const migrationCount = readdirSync(join(import.meta.dirname, "..", "..", "..", "migrations")).filter(
      (f) => /^Migration\d+_\w+\.js$/.test(f),
    ).length;
    const env = { DATABASE_URL: target.url };
    const up = await db(["migrate", "up"], env);
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/applied Migration\d+_initial_schema/);
    const status = await db(["migrate", "status"], env);
    expect(status.stdout).toContain(`${migrationCount} executed, 0 pending`);
    const seed1 = await db(["seed"], env);
    expect(seed1.code).toBe(0);
    expect(seed1.stdout).toContain("template types: 9 inserted");
    const seed2 = await db(["seed"], env);
    expect(seed2.stdout).toContain("nothing inserted");
    const down = await db(["migrate", "down", "--all"], env);
    expect(down.code).toBe(0);
    expect(down.stdout).toContain(`reverted ${migrationCount} migration(s)`);
    const after = await db(["migrate", "status"], env);
    expect(after.stdout).toContain(`0 executed, ${migrationCount} pending`);
  }, 180_000); // six CLI processes; a loaded 2-core CI machine needs more than the default bound
});
