/**
 * The CI version of `./taskmaster faults`: the real stack on embedded PostgreSQL, write load through the
 * gateway with a client ledger, and the faults that hold today. Correctness only (nothing acknowledged lost,
 * nothing doubled, no INTERNAL/UNKNOWN, no call past its deadline, every process running); the durations are
 * printed, not judged (the on-demand command judges them). Then the fuzz, 5 cases per RPC and target.
 */
import { describe, expect, it } from "vitest";
import { formatTable } from "./fault-scenarios.js";
import { runFaults } from "./faults.js";
import { formatFuzzTable } from "./fuzz.js";

const CI_FAULTS = ["PostgreSQL restart", "kill -9 TaskService", "connection exhaustion"];

describe("fault suite (short)", () => {
  it(`survives ${CI_FAULTS.join(", ")} with every acknowledged write kept once, and fuzzing`, async () => {
    const { results, fuzz } = await runFaults({ short: true, only: [...CI_FAULTS, "fuzz"], log: () => {} });
    process.stdout.write(`\n${formatTable(results, false)}\n`);
    if (fuzz)
      process.stdout.write(
        `\nfuzz (${(fuzz.elapsedMs / 1000).toFixed(1)} s)\n${formatFuzzTable(fuzz.results)}\n`,
      );
    expect(results.map((r) => r.fault)).toEqual(CI_FAULTS);
    for (const r of results) {
      expect({ fault: r.fault, missing: r.missing, duplicates: r.duplicates }).toEqual({
        fault: r.fault,
        missing: 0,
        duplicates: 0,
      });
      expect(r.acknowledged).toBeGreaterThan(0);
      expect((r.codes.get("INTERNAL") ?? 0) + (r.codes.get("UNKNOWN") ?? 0)).toBe(0);
      expect(r.overruns).toBe(0);
      expect(r.allAlive).toBe(true);
      expect(r.servingAgainMs).toBeDefined();
      expect(r.unseen).toEqual([]);
    }
    // Fuzzing (a few thousand calls): no INTERNAL/UNKNOWN to structured input, nothing hung, all healthy.
    expect(fuzz?.results.reduce((n, r) => n + r.requests, 0)).toBeGreaterThan(2_000);
    expect(fuzz?.results.flatMap((r) => r.findings)).toEqual([]);
    expect(fuzz?.unhealthy).toEqual([]);
  }, 300_000);
});
