/**
 * The faults and the measurement around each: write load with a ledger (write-ledger.ts) through the gateway,
 * the fault, recovery, then the ledger checked against the database (every acknowledged write present
 * exactly once), the processes checked alive, and the figures for the table.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { FaultStack } from "./fault-stack.js";
import { stack } from "./stack.js";
import { startWriteLoad } from "./write-ledger.js";

export interface Fault {
  readonly name: string;
  /** Goal for serving again after the fault is healed (judged by the full run only). */
  readonly servingGoalMs: number;
  /** Codes the fault must make the clients see (else it proved nothing); default none. */
  readonly mustAnswer?: readonly string[];
  /** Injects the fault and heals it; resolves with the time it was healed (ms since epoch). */
  readonly inject: (stack: FaultStack, holdMs: number) => Promise<number>;
}

export interface FaultResult {
  readonly fault: string;
  readonly codes: ReadonlyMap<string, number>;
  readonly outageMs: number;
  /** From healed to the first acknowledged write after it; undefined when none came. */
  readonly servingAgainMs: number | undefined;
  readonly servingGoalMs: number;
  readonly acknowledged: number;
  readonly missing: number;
  readonly duplicates: number;
  readonly overruns: number;
  readonly allAlive: boolean;
  readonly restarts: number;
  /** Codes the fault had to produce and did not. */
  readonly unseen: readonly string[];
  /**
   * Correctness: nothing lost or doubled, no INTERNAL/UNKNOWN, no call outliving its deadline, all running,
   * and the codes the fault must produce seen.
   */
  readonly correct: boolean;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(probe: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > end) return false;
    await wait(50);
  }
  return true;
}

const killMember = (name: string): Fault => ({
  name: `kill -9 ${name.split(".").at(-1)}`,
  servingGoalMs: 10_000,
  async inject(s) {
    const pid = s.pidOf(name);
    if (pid !== undefined) process.kill(pid, "SIGKILL");
    return Date.now();
  },
});

export const faults: readonly Fault[] = [
  {
    name: "PostgreSQL restart",
    servingGoalMs: 5_000,
    async inject(s) {
      await s.stopDatabase();
      await s.startDatabase();
      return Date.now();
    },
  },
  {
    name: "PostgreSQL stopped",
    servingGoalMs: 5_000,
    async inject(s, holdMs) {
      await s.stopDatabase();
      await wait(holdMs);
      await s.startDatabase();
      return Date.now();
    },
  },
  {
    name: "PostgreSQL frozen (SIGSTOP)",
    servingGoalMs: 5_000,
    async inject(s, holdMs) {
      s.freezeDatabase(true);
      await wait(holdMs);
      s.freezeDatabase(false);
      return Date.now();
    },
  },
  {
    name: "TCP blackhole service-database",
    servingGoalMs: 5_000,
    async inject(s, holdMs) {
      s.proxy.blackhole(true);
      await wait(holdMs);
      s.proxy.blackhole(false);
      return Date.now();
    },
  },
  ...stack.map((spec) => killMember(spec.name)),
  {
    name: "connection exhaustion",
    servingGoalMs: 5_000,
    // The services must meet the full server: their new connections refused ("too many clients", 53300).
    mustAnswer: ["UNAVAILABLE"],
    async inject(s, holdMs) {
      // Another client takes every connection the server has left (its superuser slots too), then the
      // services' own connections are ended so their pools must open new ones, which the server refuses;
      // the freed slots are taken as well. Held, then let go.
      const held: pg.Client[] = [];
      const takeAll = async () => {
        for (;;) {
          const client = new pg.Client({ connectionString: s.ownerUrl, connectionTimeoutMillis: 2_000 });
          try {
            await client.connect();
            held.push(client);
          } catch {
            await client.end().catch(() => undefined);
            return;
          }
        }
      };
      await takeAll();
      await held[0]?.query(
        "select pg_terminate_backend(pid) from pg_stat_activity where usename = 'taskmaster_service'",
      );
      await takeAll();
      await wait(holdMs);
      await Promise.all(held.map((c) => c.end().catch(() => undefined)));
      return Date.now();
    },
  },
];

/** Runs one fault under write load and checks the ledger against the database. */
export async function runFault(
  s: FaultStack,
  fault: Fault,
  holdMs: number,
  /** Acknowledged writes wanted before the fault and after the first one after healing. */
  steadyWrites = 20,
): Promise<FaultResult> {
  const run = randomBytes(4).toString("hex");
  const restartsBefore = [...s.supervisor.restarts().values()].reduce((a, b) => a + b, 0);
  const load = startWriteLoad({
    address: s.gateway,
    run,
    concurrency: 4,
    deadlineMs: 5_000,
    giveUpMs: 60_000,
  });
  await until(() => load.acknowledged.length >= steadyWrites, 30_000);
  const injectedAt = Date.now();
  const healedAt = await fault.inject(s, holdMs);
  // Serving again: the first write acknowledged after the fault was healed and after the last failed attempt.
  const anchor = () => Math.max(healedAt, ...load.failures);
  await until(() => load.successes.some((t) => t > anchor()), 60_000);
  // Steady again: more writes acknowledged after the first one, and the supervisor's restarts done.
  await until(() => load.successes.filter((t) => t > healedAt).length >= steadyWrites, 30_000);
  await until(() => s.allAlive(), 30_000);
  await load.stop();
  const firstAfter = load.successes.find((t) => t > anchor());

  const client = new pg.Client({ connectionString: s.ownerUrl });
  await client.connect();
  const { rows } = await client.query<{ title: string; n: string }>(
    "SELECT title, count(*) AS n FROM tasks WHERE title LIKE $1 GROUP BY title",
    [`fault ${run} write %`],
  );
  await client.end();
  const inDb = new Map(rows.map((r) => [r.title, Number(r.n)]));
  const missing = load.acknowledged.filter((e) => !inDb.has(e.title)).length;
  const duplicates = [...inDb.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0);
  // Outage: the longest time without an acknowledged write, from the fault's start until serving again.
  const times = [injectedAt, ...load.successes.filter((t) => t > injectedAt).sort((a, b) => a - b)];
  let outageMs = 0;
  for (let i = 1; i < times.length; i++) outageMs = Math.max(outageMs, (times[i] ?? 0) - (times[i - 1] ?? 0));
  const internal = (load.codes.get("INTERNAL") ?? 0) + (load.codes.get("UNKNOWN") ?? 0);
  const allAlive = s.allAlive();
  const restarts = [...s.supervisor.restarts().values()].reduce((a, b) => a + b, 0) - restartsBefore;
  const unseen = (fault.mustAnswer ?? []).filter((code) => (load.codes.get(code) ?? 0) === 0);
  return {
    fault: fault.name,
    codes: load.codes,
    outageMs,
    servingAgainMs: firstAfter === undefined ? undefined : firstAfter - healedAt,
    servingGoalMs: fault.servingGoalMs,
    acknowledged: load.acknowledged.length,
    missing,
    duplicates,
    overruns: load.overruns.length,
    allAlive,
    restarts,
    unseen,
    correct:
      unseen.length === 0 &&
      missing === 0 &&
      duplicates === 0 &&
      internal === 0 &&
      load.overruns.length === 0 &&
      allAlive &&
      firstAfter !== undefined,
  };
}

/** The table: fault, errors by code, outage window, serving again, acknowledged / missing / duplicates. */
export function formatTable(results: readonly FaultResult[], judgeDurations: boolean): string {
  const head = [
    "fault",
    "errors by code",
    "outage",
    "serving again",
    "ack",
    "missing",
    "dup",
    "restarts",
    "result",
  ];
  const lines = results.map((r) => {
    const errors =
      [...r.codes]
        .filter(([code]) => code !== "OK")
        .map(([code, n]) => `${code} ${n}`)
        .join(", ") || "none";
    const again = r.servingAgainMs === undefined ? "never" : `${(r.servingAgainMs / 1000).toFixed(1)} s`;
    const inTime = r.servingAgainMs !== undefined && r.servingAgainMs <= r.servingGoalMs;
    const ok = r.correct && (!judgeDurations || inTime);
    const notes = [
      r.allAlive ? "" : "process down",
      r.unseen.length > 0 ? `no ${r.unseen.join("/")}` : "",
      r.overruns > 0 ? `${r.overruns} past deadline` : "",
      judgeDurations && !inTime ? `goal ${r.servingGoalMs / 1000} s` : "",
    ].filter(Boolean);
    return [
      r.fault,
      errors,
      `${(r.outageMs / 1000).toFixed(1)} s`,
      again,
      String(r.acknowledged),
      String(r.missing),
      String(r.duplicates),
      String(r.restarts),
      ok ? "PASS" : `FAIL${notes.length ? ` (${notes.join("; ")})` : ""}`,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const row = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  return [row(head), row(widths.map((w) => "-".repeat(w))), ...lines.map(row)].join("\n");
}
