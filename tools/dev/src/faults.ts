#!/usr/bin/env node
/**
 * `./taskmaster faults`: the fault suite against the real stack on embedded PostgreSQL (fault-stack.ts,
 * fault-scenarios.ts). Prints a table; exits 1 when a fault fails (correctness, or in the full run the
 * serving-again goal).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type FuzzFaultResult, runFuzzFault } from "./fault-fuzz.js";
import { type FaultResult, faults, formatTable, runFault } from "./fault-scenarios.js";
import { startFaultStack } from "./fault-stack.js";
import { formatFuzzTable } from "./fuzz.js";

const root = join(import.meta.dirname, "..", "..", "..");

const usage = `Usage: ./taskmaster faults [options]

Starts the whole stack on a fresh embedded PostgreSQL (free ports, temp folder) and, under write load through
the gateway with a client ledger (request ids; UNAVAILABLE/DEADLINE_EXCEEDED retried with the same id), injects:
${faults.map((f) => `  - ${f.name}`).join("\n")}
  - fuzz: every RPC of every service, straight and through the gateway (Connect JSON, gRPC-Web, gRPC), with
    empty, NUL, boundary, random, very long, deeply nested, huge repeated inputs and garbage frames
Each fault: 0 acknowledged writes missing, 0 duplicates, 0 INTERNAL/UNKNOWN, no call past its deadline,
every process running; the full run also judges the time to serving again (5 s after the database is back,
10 s after a kill -9). The fuzz: 0 INTERNAL/UNKNOWN to structured input, 0 hung calls, every process alive
and healthy after. Prints the tables; exit 1 when a fault fails.

Options:
  --short              hold each fault 3 s instead of 10 s, fuzz 5 cases per RPC and target (instead of
                       every case), and judge correctness only
  --only <names>       comma-separated substrings of fault names (e.g. "restart,kill -9 TaskService")
  -h, --help           show this help`;

export async function runFaults(options: { short: boolean; only?: string[]; log?: (m: string) => void }) {
  const log = options.log ?? ((m: string) => process.stderr.write(`[faults] ${m}\n`));
  const picked = (name: string) =>
    !options.only || options.only.some((o) => name.toLowerCase().includes(o.toLowerCase()));
  const selected = faults.filter((f) => picked(f.name));
  log("starting the stack on embedded PostgreSQL");
  const s = await startFaultStack(root, log);
  log(`stack up (members' log: ${s.logFile})`);
  const results: FaultResult[] = [];
  let fuzz: FuzzFaultResult | undefined;
  try {
    for (const fault of selected) {
      log(`fault: ${fault.name}`);
      results.push(await runFault(s, fault, options.short ? 3_000 : 10_000, options.short ? 5 : 20));
    }
    if (picked("fuzz")) {
      log("fault: fuzz");
      fuzz = await runFuzzFault(s, { casesPerRpc: options.short ? 5 : undefined });
    }
  } finally {
    await s.stop();
  }
  return { results, fuzz };
}

/** The fuzz passed: no bad answer to structured input, nothing hung, everything healthy after. */
export function fuzzPassed(fuzz: FuzzFaultResult): boolean {
  return fuzz.healthy && fuzz.results.every((r) => r.findings.length === 0);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      short: { type: "boolean", default: false },
      only: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const { results, fuzz } = await runFaults({
    short: values.short,
    ...(values.only ? { only: values.only.split(",").map((o) => o.trim()) } : {}),
  });
  if (results.length > 0) process.stdout.write(`\n${formatTable(results, !values.short)}\n`);
  if (fuzz !== undefined) {
    const health = fuzz.healthy
      ? "every process alive and healthy"
      : `NOT HEALTHY: ${fuzz.unhealthy.join(", ")}`;
    const took = `${(fuzz.elapsedMs / 1000).toFixed(1)} s`;
    process.stdout.write(
      `\nfuzz (${fuzzPassed(fuzz) ? "PASS" : "FAIL"}; ${health}; ${took})\n${formatFuzzTable(fuzz.results)}\n`,
    );
  }
  const failed = results.filter(
    (r) =>
      !r.correct || (!values.short && (r.servingAgainMs === undefined || r.servingAgainMs > r.servingGoalMs)),
  );
  return failed.length === 0 && (fuzz === undefined || fuzzPassed(fuzz)) ? 0 : 1;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) process.exitCode = await main();
