/**
 * What the benchmarks share around the measurement: options, the bench database (DATABASE_URL or an embedded
 * PostgreSQL, created and migrated), the task dataset, waiting for a child to serve, the best-of-rounds loop,
 * and printing / writing the results.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrateUp } from "@taskmaster/persistence/migrate";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { seedDatabase } from "@taskmaster/persistence/seed";
import { freePort, startEmbeddedPostgres } from "@taskmaster/testing/embedded";
import pg from "pg";
import { ensureDataset, sampleIds } from "./dataset.js";
import { grpcHealthCheck } from "./health-probe.js";
import type { Child } from "./processes.js";
import { type Row, renderTable, type Summary } from "./stats.js";

/** The repository root. */
export const root = join(import.meta.dirname, "..", "..", "..");

export type Log = (message: string) => void;

/** Writes `[tag] message` lines to stderr. */
export function logger(tag: string): Log {
  return (message) => process.stderr.write(`[${tag}] ${message}\n`);
}

/** The parseArgs options every benchmark takes, with their usual defaults. */
export const commonOptions = {
  duration: { type: "string", default: "5000" },
  warmup: { type: "string", default: "1000" },
  concurrency: { type: "string", default: "64" },
  rounds: { type: "string", default: "2" },
  pool: { type: "string", default: "8" },
  help: { type: "boolean", short: "h", default: false },
} as const;

/** Reads a string option as a positive integer, or throws naming the option. */
export function positiveInt<K extends string>(
  values: Partial<Readonly<Record<K, unknown>>>,
  name: K,
): number {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
  return n;
}

export type Cleanups = (() => Promise<void>)[];

/** Runs `work`, then every cleanup it registered, last first, ignoring their failures. */
export async function withCleanups(work: (cleanups: Cleanups) => Promise<void>): Promise<void> {
  const cleanups: Cleanups = [];
  try {
    await work(cleanups);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

/** Runs a benchmark's main, logging its error and setting a failing exit code. */
export function runMain(main: () => Promise<void>, log: Log): void {
  main().catch((error: Error) => {
    log(error.message);
    process.exitCode = 1;
  });
}

export interface BenchDatabaseOptions {
  /** Database created on the server when missing. */
  readonly database: string;
  /** Prefix of the temporary directory of an embedded PostgreSQL. */
  readonly tmpPrefix: string;
  /** Also seed the reference data (no demo data). */
  readonly seed?: boolean;
  readonly log: Log;
  readonly cleanups: Cleanups;
}

/**
 * The server of DATABASE_URL, or an embedded PostgreSQL in a temporary directory (stopped and removed by the
 * cleanups); creates `database` there when missing, migrates it (and seeds it); returns its URL.
 */
export async function prepareBenchDatabase(options: BenchDatabaseOptions): Promise<string> {
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const dir = mkdtempSync(join(tmpdir(), options.tmpPrefix));
    options.log(`starting embedded PostgreSQL in ${dir}`);
    const embedded = await startEmbeddedPostgres({ dataDir: join(dir, "pg"), port: await freePort() });
    options.cleanups.push(async () => {
      await embedded.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    serverUrl = embedded.url;
  }
  const databaseUrl = await createDatabase(serverUrl, options.database);
  const orm = await initOrm({ url: databaseUrl });
  await migrateUp(orm);
  if (options.seed) await seedDatabase(orm, { demo: false });
  await orm.close();
  return databaseUrl;
}

/** Creates `database` on the server when missing; returns its URL. */
async function createDatabase(serverUrl: string, database: string): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const found = await client.query("select 1 from pg_database where datname = $1", [database]);
    if (found.rowCount === 0) await client.query(`create database ${database}`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Generates the task dataset (once; reused while big enough) and returns a sample of 5,000 task ids. */
export async function prepareDataset(
  databaseUrl: string,
  tasks: number,
  progress: (done: number, total: number) => void,
): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await ensureDataset(client, tasks, progress);
    return await sampleIds(client, 5_000);
  } finally {
    await client.end();
  }
}

/**
 * `count` tasks for UpdateTask only (tag `bench-update`, kept apart from the dataset so updates never change
 * what the other operations read); created once, reused. Returns their ids.
 */
export async function createUpdateTargets(databaseUrl: string, count: number): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const existing = Number(
      (await client.query("select count(*)::bigint as n from tasks where 'bench-update' = any(tags)")).rows[0]
        ?.n ?? 0,
    );
    if (existing < count) {
      await client.query(
        `insert into tasks (id, title, tags)
         select gen_random_uuid(), 'Benchmark update target ' || i, array['bench-update']
         from generate_series($1::int, $2::int) as i`,
        [existing + 1, count],
      );
    }
    const rows = await client.query<{ id: string }>(
      "select id from tasks where 'bench-update' = any(tags) and deleted_at is null order by id limit $1",
      [count],
    );
    return rows.rows.map((r) => r.id);
  } finally {
    await client.end();
  }
}

/**
 * Audit triggers of the bench database's `tasks` table on or off (`alter table tasks enable|disable trigger
 * user`). Only ever called with the bench database's URL.
 */
export async function setTaskAuditTriggers(databaseUrl: string, enabled: boolean): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`alter table tasks ${enabled ? "enable" : "disable"} trigger user`);
  } finally {
    await client.end();
  }
}

/** Polls `probe` until it answers true; fails when the child exits or after 30 s. */
export async function waitFor(
  what: string,
  child: Child,
  probe: () => Promise<boolean>,
  ready = "ready",
): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null) throw new Error(`${what} exited during start`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not become ${ready} within 30 s`);
}

/** Waits until the service answers its gRPC health check with SERVING. */
export function waitServing(what: string, service: Child): Promise<void> {
  return waitFor(what, service, () => grpcHealthCheck(service.address), "healthy");
}

/**
 * Measures every subject once per round, alternating in order, `rounds` times; keeps each subject's best
 * (highest ops/s) summary. `onBest` sees a measurement as it becomes its subject's best.
 */
export async function bestOfRounds<T>(
  rounds: number,
  subjects: readonly T[],
  measure: (subject: T, round: number) => Promise<Summary>,
  onBest?: (subject: T, summary: Summary) => void,
): Promise<Map<T, Summary>> {
  const best = new Map<T, Summary>();
  for (let round = 1; round <= rounds; round++) {
    for (const subject of subjects) {
      const summary = await measure(subject, round);
      const prev = best.get(subject);
      if (prev === undefined || summary.opsPerSec > prev.opsPerSec) {
        best.set(subject, summary);
        onBest?.(subject, summary);
      }
    }
  }
  return best;
}

/** The floor row (ratio 1) and the service row (ratio to the floor) of one operation, each when measured. */
export function floorAndServiceRows(
  operation: string,
  floor: { readonly subject: string; readonly summary: Summary | undefined },
  service: { readonly subject: string; readonly summary: Summary | undefined; readonly target?: number },
): Row[] {
  const rows: Row[] = [];
  if (floor.summary) rows.push({ operation, subject: floor.subject, summary: floor.summary, ratio: 1 });
  if (service.summary) {
    rows.push({
      operation,
      subject: service.subject,
      summary: service.summary,
      ratio: floor.summary ? service.summary.opsPerSec / floor.summary.opsPerSec : undefined,
      target: service.target,
    });
  }
  return rows;
}

/** Prints the result table to stdout. */
export function printTable(rows: readonly Row[]): void {
  process.stdout.write(`\n${renderTable(rows)}\n\n`);
}

/** Writes `results` as JSON to `out`, by default bench-results/<prefix>-<timestamp>.json. */
export function writeResults(out: string | undefined, prefix: string, results: object, log: Log): void {
  const file =
    out ?? join(root, "bench-results", `${prefix}-${new Date().toISOString().replaceAll(":", "-")}.json`);
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  log(`results written to ${file}`);
}
