#!/usr/bin/env node
/**
 * `./taskmaster bench`: TaskService RPCs against a bare grpc-js + raw `pg` floor running the same SQL,
 * measured in the same run on the same database, client in this process, servers in their own.
 * Prints ops/s, p50/p95/p99 and the ratio to the floor; writes the results as JSON.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { migrateUp } from "@taskmaster/persistence/migrate";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { freePort, startEmbeddedPostgres } from "@taskmaster/testing/embedded";
import pg from "pg";
import { ensureDataset, sampleIds } from "./dataset.js";
import { runLoad } from "./load.js";
import { operations } from "./operations.js";
import { type Child, startFloor, startService } from "./processes.js";
import { type Row, renderTable, summarize } from "./stats.js";

const root = join(import.meta.dirname, "..", "..", "..");
const usage = `Usage: ./taskmaster bench [options]

Measures TaskService RPCs (the real service, in its own process) against a floor: a bare grpc-js server
running the same SQL with raw pg prepared statements. Same database, same pool size, same run.

Options:
  --tasks <n>         dataset size, e.g. 100000 or 1000000 (default 100000; generated once, reused)
  --duration <ms>     measured time per operation and round (default 5000)
  --warmup <ms>       warm-up before each measurement (default 1000)
  --concurrency <n>   requests in flight (default 64)
  --rounds <n>        alternate floor/service this many times, keep each one's best (default 2)
  --only <names>      comma-separated operation names (GetTask,CreateTask,ListTasks(filter),SearchTasks,ClaimNextTask)
  --pool <n>          database pool size of both servers (default 8)
  --out <file>        JSON results (default bench-results/tasks-<timestamp>.json)
  -h, --help          this help

DATABASE_URL selects the server (a database 'taskmaster_bench_v2' is created there); without it an embedded
PostgreSQL runs in a temporary directory.`;

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tasks: { type: "string", default: "100000" },
      duration: { type: "string", default: "5000" },
      warmup: { type: "string", default: "1000" },
      concurrency: { type: "string", default: "64" },
      rounds: { type: "string", default: "2" },
      only: { type: "string" },
      pool: { type: "string", default: "8" },
      out: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const num = (name: keyof typeof values) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  const taskCount = num("tasks");
  const poolMax = num("pool");

  const cleanups: (() => Promise<void>)[] = [];
  try {
    let serverUrl = process.env.DATABASE_URL;
    if (!serverUrl) {
      const dir = mkdtempSync(join(tmpdir(), "tm-bench-"));
      log(`starting embedded PostgreSQL in ${dir}`);
      const embedded = await startEmbeddedPostgres({ dataDir: join(dir, "pg"), port: await freePort() });
      cleanups.push(async () => {
        await embedded.stop();
        rmSync(dir, { recursive: true, force: true });
      });
      serverUrl = embedded.url;
    }
    const databaseUrl = await benchDatabase(serverUrl);

    const orm = await initOrm({ url: databaseUrl });
    await migrateUp(orm);
    await orm.close();

    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    const started = Date.now();
    await ensureDataset(client, taskCount, (done, total) =>
      log(
        `dataset: ${done.toLocaleString("en")}/${total.toLocaleString("en")} tasks (${((Date.now() - started) / 1000).toFixed(0)} s)`,
      ),
    );
    const ids = await sampleIds(client, 5_000);
    await client.end();

    const floor = await startFloor(join(root, "tools/bench/dist/floor-server.js"), databaseUrl, poolMax);
    cleanups.push(floor.stop);
    const service = startService(
      join(root, "apps/task-service/dist/main.js"),
      databaseUrl,
      await freePort(),
      poolMax,
    );
    cleanups.push(service.stop);
    await waitServing(service);

    const only = values.only?.split(",").map((s) => s.trim());
    const selected = operations(ids).filter((op) => !only || only.includes(op.name));
    const rows: Row[] = [];
    for (const op of selected) {
      const best = {
        floor: undefined as ReturnType<typeof summarize> | undefined,
        service: undefined as ReturnType<typeof summarize> | undefined,
      };
      for (let round = 1; round <= num("rounds"); round++) {
        for (const [subject, target] of [
          ["floor", floor],
          ["service", service],
        ] as const) {
          if (subject === "floor" && !op.hasFloor) continue;
          log(`${op.name}: ${subject}, round ${round}`);
          const summary = summarize(
            await runLoad({
              address: target.address,
              path: op.path,
              requests: op.requests,
              concurrency: num("concurrency"),
              warmupMs: num("warmup"),
              durationMs: num("duration"),
            }),
          );
          if (!best[subject] || summary.opsPerSec > (best[subject]?.opsPerSec ?? 0)) best[subject] = summary;
        }
      }
      if (best.floor)
        rows.push({ operation: op.name, subject: "floor (grpc-js + pg)", summary: best.floor, ratio: 1 });
      if (best.service) {
        const ratio = best.floor ? best.service.opsPerSec / best.floor.opsPerSec : undefined;
        rows.push({
          operation: op.name,
          subject: "task-service",
          summary: best.service,
          ratio,
          target: op.target,
        });
      }
    }

    process.stdout.write(`\n${renderTable(rows)}\n\n`);
    const out =
      values.out ??
      join(root, "bench-results", `tasks-${new Date().toISOString().replaceAll(":", "-")}.json`);
    mkdirSync(join(out, ".."), { recursive: true });
    writeFileSync(
      out,
      `${JSON.stringify({ at: new Date().toISOString(), node: process.version, tasks: taskCount, concurrency: num("concurrency"), pool: poolMax, rows }, null, 2)}\n`,
    );
    log(`results written to ${out}`);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

/** Creates the `taskmaster_bench` database on the server when missing; returns its URL. */
async function benchDatabase(serverUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const found = await client.query("select 1 from pg_database where datname = 'taskmaster_bench_v2'");
    if (found.rowCount === 0) await client.query("create database taskmaster_bench_v2");
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = "/taskmaster_bench_v2";
  return url.toString();
}

/** Polls the service with a cheap RPC until it answers (or exits). */
async function waitServing(service: Child): Promise<void> {
  const { grpcHealthCheck } = await import("./health-probe.js");
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (service.process.exitCode !== null) throw new Error("task-service exited during start");
    if (await grpcHealthCheck(service.address)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("task-service did not become healthy within 30 s");
}

main().catch((error: Error) => {
  log(error.message);
  process.exitCode = 1;
});
