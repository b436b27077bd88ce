/**
 * The disaster-recovery drill as CI runs it (`db drill`, default size): point-in-time recovery returns
 * exactly the rows committed before T, recovery from the archive alone returns a gap-free prefix of the
 * acknowledged commits, and the last line has the promised shape. Correctness only: no time is asserted.
 */
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseSize } from "./drill.ts";

const run = promisify(execFile);
const CLI = resolve(import.meta.dirname, "..", "db.ts");

describe("db drill", () => {
  it("parses sizes", () => {
    expect(parseSize("50MB")).toBe(50 * 1024 ** 2);
    expect(parseSize("1GB")).toBe(1024 ** 3);
    expect(parseSize("4096")).toBe(4096);
    expect(() => parseSize("lots")).toThrow(/--size/);
  });

  it("recovers to T exactly and from the archive alone after the primary's disk is lost", async () => {
    const { stdout } = await run(process.execPath, [CLI, "drill", "--json"], {
      timeout: 300_000,
      maxBuffer: 1 << 24,
    });
    const result = JSON.parse(stdout) as {
      ok: boolean;
      reason?: string;
      pitrRows: number;
      rows: number;
      sizeBytes: number;
      lostCommits: number;
      line: string;
    };
    expect(result.reason).toBeUndefined();
    expect(result.ok).toBe(true);
    // The default size is ~50 MB of ledger rows; the recovered prefix includes every loaded row.
    expect(result.sizeBytes).toBeGreaterThan(40 * 1024 ** 2);
    expect(result.pitrRows).toBeGreaterThan(40_000);
    expect(result.rows).toBeGreaterThan(result.pitrRows);
    expect(result.line).toMatch(/^drill: PASS rto=\d+(\.\d+)?s rpo=\d+(\.\d+)?s size=\d+ rows=\d+$/);
  }, 300_000);
});
