/**
 * OUTPUT_ONLY coverage: every OUTPUT_ONLY field a package's services can emit (from the descriptors) must be
 * seen set in at least one spec scenario of that package's run, or be listed in INTENTIONALLY_UNSET with the
 * reason. Runs as the package's vitest `globalSetup`: it hands each spec file a directory for its record
 * (output-contract.setup.ts) and, after the run, fails it when a field is neither seen nor listed (and warns
 * when a listed field was seen after all). Only a run of every spec file of the package is judged; a run of a
 * few files cannot tell.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { serviceByName } from "./contract-registry.js";
import type { OutputContractRecord } from "./output-contract.setup.js";
import { outputOnlyFields } from "./output-only-fields.js";
import { INTENTIONALLY_UNSET } from "./output-only-unset.js";

export interface CoverageVerdict {
  /** OUTPUT_ONLY fields never set and not listed. */
  missing: string[];
  /** Listed as intentionally unset, yet set by a scenario. */
  stale: string[];
}

/**
 * `relayedFrom`: type-name prefixes ("taskmaster.task.v1.") of messages the services only relay from another
 * service, with the reason; their fields are judged by that service's package, not here.
 */
export function judgeCoverage(
  services: readonly string[],
  seen: ReadonlySet<string>,
  relayedFrom: Readonly<Record<string, string>> = {},
): CoverageVerdict {
  const prefixes = Object.keys(relayedFrom);
  const all = outputOnlyFields(
    services.map((name) => {
      const s = serviceByName(name);
      if (s === undefined) throw new Error(`unknown service ${name}`);
      return s;
    }),
  );
  const unusedPrefixes = prefixes.filter((p) => ![...all].some((f) => f.startsWith(p)));
  if (unusedPrefixes.length > 0) {
    throw new Error(`relayedFrom prefixes match no OUTPUT_ONLY field: ${unusedPrefixes.join(", ")}`);
  }
  const expected = [...all].filter((f) => !prefixes.some((p) => f.startsWith(p)));
  const missing = [...expected].filter((f) => !seen.has(f) && INTENTIONALLY_UNSET[f] === undefined).sort();
  const stale = [...expected].filter((f) => seen.has(f) && INTENTIONALLY_UNSET[f] !== undefined).sort();
  return { missing, stale };
}

export interface OutputCoverageOptions {
  /**
   * Messages the package's services only relay from another service (type-name prefix -> reason), e.g.
   * `{ "taskmaster.task.v1.": "relayed from TaskService; task-service's run judges them" }`: not judged here.
   */
  readonly relayedFrom?: Readonly<Record<string, string>>;
  /**
   * Fail the run on a missing field (default true). `false` only reports the missing fields after a full run:
   * for a package whose INTENTIONALLY_UNSET entries have not been derived yet (the report is that list).
   */
  readonly enforce?: boolean;
}

/** A vitest globalSetup judging the OUTPUT_ONLY fields of `services` (full type names). */
export function outputCoverageSetup(
  services: readonly string[],
  { enforce = true, relayedFrom = {} }: OutputCoverageOptions = {},
) {
  return async function setup(project: TestProject): Promise<() => Promise<void>> {
    const dir = mkdtempSync(join(tmpdir(), "taskmaster-output-contract-"));
    project.provide("outputContractDir", dir);
    return async () => {
      try {
        const records = readdirSync(dir).map(
          (f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as OutputContractRecord,
        );
        const { testFiles } = await project.globTestFiles();
        const ran = new Set(records.map((r) => r.file));
        const unreported = testFiles.filter((f) => !ran.has(f));
        if (testFiles.length === 0 || unreported.length === testFiles.length) return;
        if (unreported.length > 0) {
          // A partial run (or a file that never finished) cannot judge coverage.
          console.info(
            `output-only coverage not judged: ${unreported.length} spec file(s) did not report (${unreported.slice(0, 3).join(", ")})`,
          );
          return;
        }
        const seen = new Set(records.flatMap((r) => r.outputOnlySet));
        const { missing, stale } = judgeCoverage(services, seen, relayedFrom);
        if (stale.length > 0) {
          // Not fatal: someone populated a field; the list should lose it, but that is no regression.
          console.warn(
            `output-only coverage: listed as unset yet set, remove from libs/testing/src/output-only-unset.ts: ${stale.join(", ")}`,
          );
        }
        const problems = [
          ...missing.map(
            (f) =>
              `OUTPUT_ONLY field ${f} is set by no spec scenario (populate it, or list it with the reason in libs/testing/src/output-only-unset.ts)`,
          ),
        ];
        if (problems.length === 0) return;
        const report = `output-only coverage:\n  ${problems.join("\n  ")}`;
        if (enforce) throw new Error(report);
        console.warn(`${report}\n(not enforced for this package yet: see its output-coverage.test-util.ts)`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
  };
}
