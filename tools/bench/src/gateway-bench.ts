#!/usr/bin/env node
/**
 * `./taskmaster bench gateway`: the same GetTask on the same dataset, in one run, three ways:
 * Connect JSON through the gateway, gRPC-Web through the gateway, and direct gRPC to the task service.
 * Each mode runs closed-loop at the same concurrency; modes alternate per round and keep their best.
 * Prints ops/s, p50/p95/p99, the ratio gateway/direct (target >= 0.7) and the p99 the gateway adds.
 * When a gateway mode misses the target (or with --profile always), the gateway is run once more under
 * `node --cpu-prof` and its top self-time costs are printed.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { GetTaskRequestSchema, TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { freePort } from "@taskmaster/testing/embedded";
import { grpcWebFrame, grpcWebOk, type HttpLoadOptions, runHttpLoad } from "./gateway-load.js";
import { topCosts } from "./gateway-profile.js";
import {
  bestOfRounds,
  commonOptions,
  logger,
  positiveInt,
  prepareBenchDatabase,
  prepareDataset,
  printTable,
  root,
  runMain,
  waitFor,
  waitServing,
  withCleanups,
  writeResults,
} from "./harness.js";
import { runLoad } from "./load.js";
import { type Child, startService, stopper } from "./processes.js";
import { type Row, type Summary, summarize } from "./stats.js";

const TARGET = 0.7;
const usage = `Usage: ./taskmaster bench gateway [options]

GetTask three ways in one run on one dataset: Connect JSON via the gateway, gRPC-Web via the gateway, and
direct gRPC to the task service. Ratio gateway/direct (target >= ${TARGET}) and p99 added by the gateway.

Options:
  --tasks <n>         dataset size (default 100000; generated once, shared with './taskmaster bench')
  --duration <ms>     measured time per mode and round (default 5000)
  --warmup <ms>       warm-up before each measurement (default 1000)
  --concurrency <n>   requests in flight (default 64)
  --rounds <n>        alternate the modes this many times, keep each one's best (default 2)
  --pool <n>          database pool size of the task service (default 8)
  --profile <when>    auto (when a ratio misses), always, never (default auto): CPU profile of the gateway
  --out <file>        JSON results (default bench-results/gateway-<timestamp>.json)
  -h, --help          this help

DATABASE_URL selects the PostgreSQL server; without it an embedded one runs in a temporary directory.`;

const log = logger("bench:gateway");

/** The real gateway (dist/main.js), no authentication, edge limits lifted so they never throttle the load. */
function startGateway(port: number, taskAddress: string, nodeArgs: readonly string[] = []): Child {
  const child = spawn(process.execPath, [...nodeArgs, join(root, "apps/gateway/dist/main.js")], {
    env: {
      ...process.env,
      DATABASE_URL: "",
      GATEWAY_AUTH: "none",
      TASKMASTER_PROFILE: "development",
      TASK_SERVICE_ADDRESS: taskAddress,
      GRPC_HOST: "127.0.0.1",
      GATEWAY_PORT: String(port),
      HEALTH_PORT: "0",
      METRICS_PORT: "0",
      LOG_LEVEL: "warn",
      GATEWAY_RATE_PER_IDENTITY: "1000000",
      GATEWAY_BURST_PER_IDENTITY: "10000000",
      GATEWAY_RATE_PER_IP: "1000000",
      GATEWAY_BURST_PER_IP: "10000000",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return { process: child, address: `127.0.0.1:${port}`, stop: stopper(child, 15_000) };
}

const getTaskPath = `/${TaskService.typeName}/GetTask`;

interface Mode {
  readonly name: string;
  run(load: { concurrency: number; warmupMs: number; durationMs: number }): Promise<Summary>;
}

function httpModes(gatewayAddress: string, ids: readonly string[]): Mode[] {
  const url = `http://${gatewayAddress}${getTaskPath}`;
  const requests = ids.map((id) => create(GetTaskRequestSchema, { name: `tasks/${id}` }));
  const json: Omit<HttpLoadOptions, "concurrency" | "warmupMs" | "durationMs"> = {
    url,
    contentType: "application/json",
    headers: { "connect-protocol-version": "1" },
    bodies: requests.map((r) => Buffer.from(toJsonString(GetTaskRequestSchema, r))),
    ok: (status) => status === 200,
  };
  const web: Omit<HttpLoadOptions, "concurrency" | "warmupMs" | "durationMs"> = {
    url,
    contentType: "application/grpc-web+proto",
    headers: { "x-grpc-web": "1" },
    bodies: requests.map((r) => grpcWebFrame(toBinary(GetTaskRequestSchema, r))),
    ok: grpcWebOk,
  };
  return [
    { name: "gateway Connect JSON", run: async (l) => summarize(await runHttpLoad({ ...json, ...l })) },
    { name: "gateway gRPC-Web", run: async (l) => summarize(await runHttpLoad({ ...web, ...l })) },
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tasks: { type: "string", default: "100000" },
      ...commonOptions,
      profile: { type: "string", default: "auto" },
      out: { type: "string" },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const num = (name: "tasks" | "duration" | "warmup" | "concurrency" | "rounds" | "pool") =>
    positiveInt(values, name);
  if (!["auto", "always", "never"].includes(values.profile)) {
    throw new Error("--profile must be auto, always or never");
  }
  const load = { concurrency: num("concurrency"), warmupMs: num("warmup"), durationMs: num("duration") };

  await withCleanups(async (cleanups) => {
    const databaseUrl = await prepareBenchDatabase({
      database: "taskmaster_bench_v2",
      tmpPrefix: "tm-bench-",
      log,
      cleanups,
    });
    const ids = await prepareDataset(databaseUrl, num("tasks"), (done, total) =>
      log(`dataset: ${done}/${total} tasks`),
    );

    const service = startService(
      join(root, "apps/task-service/dist/main.js"),
      databaseUrl,
      await freePort(),
      num("pool"),
    );
    cleanups.push(service.stop);
    await waitServing("task-service", service);

    const launch = async (nodeArgs: readonly string[] = []) => {
      const gateway = startGateway(await freePort(), service.address, nodeArgs);
      const probeBody = toJsonString(
        GetTaskRequestSchema,
        create(GetTaskRequestSchema, { name: `tasks/${ids[0]}` }),
      );
      await waitFor("gateway", gateway, async () => {
        const res = await fetch(`http://${gateway.address}${getTaskPath}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: probeBody,
        });
        await res.arrayBuffer();
        return res.status === 200;
      });
      return gateway;
    };
    const gateway = await launch();
    cleanups.push(gateway.stop);

    const binary = ids.map((id) =>
      toBinary(GetTaskRequestSchema, create(GetTaskRequestSchema, { name: `tasks/${id}` })),
    );
    const direct: Mode = {
      name: "direct gRPC (task-service)",
      run: async (l) =>
        summarize(await runLoad({ address: service.address, path: getTaskPath, requests: binary, ...l })),
    };
    const modes = [direct, ...httpModes(gateway.address, ids)];
    const best = await bestOfRounds(num("rounds"), modes, (mode, round) => {
      log(`${mode.name}: round ${round}`);
      return mode.run(load);
    });
    const base = best.get(direct) as Summary;
    const rows: Row[] = modes.map((mode) => {
      const summary = best.get(mode) as Summary;
      return {
        operation: "GetTask",
        subject: mode.name,
        summary,
        ratio: summary.opsPerSec / base.opsPerSec,
        ...(mode !== direct && { target: TARGET }),
      };
    });
    printTable(rows);
    for (const row of rows.slice(1)) {
      const s = row.summary;
      process.stdout.write(
        `${row.subject}: ratio ${(row.ratio ?? 0).toFixed(2)} (target >= ${TARGET}), p99 added ${(s.p99Ms - base.p99Ms).toFixed(2)} ms, p50 added ${(s.p50Ms - base.p50Ms).toFixed(2)} ms\n`,
      );
    }

    const missed = rows.some((r) => r.target !== undefined && (r.ratio ?? 0) < r.target);
    let profile: ReturnType<typeof topCosts> | undefined;
    if (values.profile === "always" || (values.profile === "auto" && missed)) {
      await gateway.stop();
      const dir = mkdtempSync(join(tmpdir(), "tm-gateway-prof-"));
      log(`profiling the gateway (node --cpu-prof) into ${dir}`);
      const profiled = await launch(["--cpu-prof", `--cpu-prof-dir=${dir}`]);
      for (const mode of httpModes(profiled.address, ids)) await mode.run(load);
      await profiled.stop();
      const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
      if (file === undefined) log("no .cpuprofile written (the gateway did not exit cleanly)");
      else {
        profile = topCosts(join(dir, file));
        const pct = (n: number) => `${(n * 100).toFixed(1).padStart(5)} %`;
        process.stdout.write(
          `\ngateway CPU profile (${join(dir, file)}), self time of ${profile.totalMs.toFixed(0)} ms:\n`,
        );
        process.stdout.write("by package:\n");
        for (const c of profile.owners) process.stdout.write(`  ${pct(c.share)}  ${c.name}\n`);
        process.stdout.write("by function:\n");
        for (const c of profile.functions) process.stdout.write(`  ${pct(c.share)}  ${c.name}\n`);
      }
    }

    writeResults(
      values.out,
      "gateway",
      {
        at: new Date().toISOString(),
        node: process.version,
        tasks: num("tasks"),
        ...load,
        pool: num("pool"),
        rows,
        profile,
      },
      log,
    );
  });
}

runMain(main, log);
