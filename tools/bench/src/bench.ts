#!/usr/bin/env node
/**
 * `./taskmaster bench`: TaskService RPCs against a bare grpc-js + raw `pg` floor running the same SQL,
 * measured in the same run on the same database, client in this process, servers in their own.
 * Prints ops/s, p50/p95/p99 and the ratio to the floor; writes the results as JSON.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "@taskmaster/testing/embedded";
import {
  bestOfRounds,
  commonOptions,
  createUpdateTargets,
  floorAndServiceRows,
  logger,
  positiveInt,
  prepareBenchDatabase,
  prepareDataset,
  printTable,
  root,
  runMain,
  setTaskAuditTriggers,
  waitServing,
  withCleanups,
  writeResults,
} from "./harness.js";
import { runLoad } from "./load.js";
import { operations } from "./operations.js";
import { startFloor, startService } from "./processes.js";
import { type Row, type Summary, summarize } from "./stats.js";

const usage = `Usage: ./taskmaster bench [options]

Measures TaskService RPCs (the real service, in its own process) against a floor: a bare grpc-js server
running the same SQL with raw pg prepared statements. Same database, same pool size, same run.

Options:
  --tasks <n>         dataset size, e.g. 100000 or 1000000 (default 100000; generated once, reused)
  --duration <ms>     measured time per operation and round (default 5000)
  --warmup <ms>       warm-up before each measurement (default 1000)
  --concurrency <n>   requests in flight (default 64)
  --rounds <n>        alternate floor/service this many times, keep each one's best (default 2)
  --only <names>      comma-separated operation names (GetTask,CreateTask,UpdateTask,ListTasks(filter),SearchTasks,
                      ClaimNextTask)
  --audit <mode>      audit triggers on the bench database's tasks table: on (default), off, or compare =
                      measure each operation (default CreateTask,UpdateTask) with triggers disabled and enabled
                      in the same run; the ratio is on/off (target >= 0.85)
  --pool <n>          database pool size of both servers (default 8)
  --out <file>        JSON results (default bench-results/tasks-<timestamp>.json)
  -h, --help          this help

DATABASE_URL selects the server (a database 'taskmaster_bench_v2' is created there); without it an embedded
PostgreSQL runs in a temporary directory.`;

const log = logger("bench");

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tasks: { type: "string", default: "100000" },
      ...commonOptions,
      only: { type: "string" },
      audit: { type: "string", default: "on" },
      out: { type: "string" },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const num = (name: keyof typeof values) => positiveInt(values, name);
  const taskCount = num("tasks");
  const poolMax = num("pool");
  const audit = values.audit;
  if (audit !== "on" && audit !== "off" && audit !== "compare") {
    throw new Error("--audit must be on, off or compare");
  }

  await withCleanups(async (cleanups) => {
    const databaseUrl = await prepareBenchDatabase({
      database: "taskmaster_bench_v2",
      tmpPrefix: "tm-bench-",
      log,
      cleanups,
    });
    const started = Date.now();
    const ids = await prepareDataset(databaseUrl, taskCount, (done, total) =>
      log(
        `dataset: ${done.toLocaleString("en")}/${total.toLocaleString("en")} tasks (${((Date.now() - started) / 1000).toFixed(0)} s)`,
      ),
    );

    const updateIds = await createUpdateTargets(databaseUrl, 4_096);
    // Whatever the mode, leave the bench database with its audit triggers enabled.
    cleanups.push(() => setTaskAuditTriggers(databaseUrl, true));
    await setTaskAuditTriggers(databaseUrl, audit !== "off");

    const floor = await startFloor(join(root, "tools/bench/dist/floor-server.js"), databaseUrl, poolMax);
    cleanups.push(floor.stop);
    const service = startService(
      join(root, "apps/task-service/dist/main.js"),
      databaseUrl,
      await freePort(),
      poolMax,
    );
    cleanups.push(service.stop);
    await waitServing("task-service", service);

    const only =
      values.only?.split(",").map((s) => s.trim()) ??
      (audit === "compare" ? ["CreateTask", "UpdateTask"] : undefined);
    const selected = operations(ids, updateIds).filter((op) => !only || only.includes(op.name));
    const rows: Row[] = [];
    const measure = (op: (typeof selected)[number], address: string): Promise<Summary> =>
      runLoad({
        address,
        path: op.path,
        requests: op.requests,
        concurrency: num("concurrency"),
        warmupMs: num("warmup"),
        durationMs: num("duration"),
      }).then(summarize);
    if (audit === "compare") {
      for (const op of selected) {
        const modes = ["audit off", "audit on"] as const;
        const best = await bestOfRounds(num("rounds"), modes, async (mode, round) => {
          await setTaskAuditTriggers(databaseUrl, mode === "audit on");
          log(`${op.name}: task-service, ${mode}, round ${round}`);
          return measure(op, service.address);
        });
        rows.push(
          ...floorAndServiceRows(
            op.name,
            { subject: "task-service, audit off", summary: best.get("audit off") },
            { subject: "task-service, audit on", summary: best.get("audit on"), target: 0.85 },
          ),
        );
      }
      await setTaskAuditTriggers(databaseUrl, true);
    }
    for (const op of audit === "compare" ? [] : selected) {
      const subjects = [
        ["floor", floor],
        ["service", service],
      ] as const;
      const best = await bestOfRounds(
        num("rounds"),
        op.hasFloor ? subjects : subjects.slice(1),
        async ([subject, target], round) => {
          log(`${op.name}: ${subject}, round ${round}`);
          return measure(op, target.address);
        },
      );
      rows.push(
        ...floorAndServiceRows(
          op.name,
          { subject: "floor (grpc-js + pg)", summary: best.get(subjects[0]) },
          { subject: "task-service", summary: best.get(subjects[1]), target: op.target },
        ),
      );
    }

    printTable(rows);
    writeResults(
      values.out,
      "tasks",
      {
        at: new Date().toISOString(),
        node: process.version,
        tasks: taskCount,
        audit,
        concurrency: num("concurrency"),
        pool: poolMax,
        rows,
      },
      log,
    );
  });
}

runMain(main, log);
