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
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
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
  --baseline-gateway <main.js>  also measure another build of the gateway (e.g. the previous commit's
                      dist/main.js) in the same run, as "baseline Connect JSON" / "baseline gRPC-Web"
  --baseline-router   also measure this build with the unary fast path off (GATEWAY_UNARY_FAST_PATH=false),
                      as "router Connect JSON" / "router gRPC-Web"
  --out <file>        JSON results (default bench-results/gateway-<timestamp>.json)
  -h, --help          this help

DATABASE_URL selects the PostgreSQL server; without it an embedded one runs in a temporary directory.`;

const log = logger("bench:gateway");

/** The real gateway (dist/main.js), no authentication, edge limits lifted so they never throttle the load. */
function startGateway(
  port: number,
  taskAddress: string,
  nodeArgs: readonly string[] = [],
  entry = join(root, "apps/gateway/dist/main.js"),
  extraEnv: Readonly<Record<string, string>> = {},
): Child {
  const child = spawn(process.execPath, [...nodeArgs, entry], {
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
      ...extraEnv,
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

/** CPU time (user + system) a process has used so far, ms, from /proc (Linux); undefined elsewhere. */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (USER_HZ, 100 on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

/**
 * Gateway CPU per call (µs) of each mode and round: the gateway's CPU time over the measured window divided
 * by the calls it answered. Unlike ops/s this hardly moves when other processes compete for the cores.
 */
type CpuPerCall = Map<string, number[]>;

function httpModes(
  gateway: Child,
  ids: readonly string[],
  label = "gateway",
  cpuPerCall: CpuPerCall = new Map(),
): Mode[] {
  const url = `http://${gateway.address}${getTaskPath}`;
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
  const measured = (name: string, options: typeof json): Mode => ({
    name,
    async run(l) {
      const running = runHttpLoad({ ...options, ...l });
      await new Promise((resolve) => setTimeout(resolve, l.warmupMs));
      const before = cpuMs(gateway.process.pid);
      const sample = await running;
      const after = cpuMs(gateway.process.pid);
      if (before !== undefined && after !== undefined && sample.ops > 0) {
        const list = cpuPerCall.get(name) ?? [];
        list.push(((after - before) * 1000) / sample.ops);
        cpuPerCall.set(name, list);
      }
      return summarize(sample);
    },
  });
  return [measured(`${label} Connect JSON`, json), measured(`${label} gRPC-Web`, web)];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tasks: { type: "string", default: "100000" },
      ...commonOptions,
      profile: { type: "string", default: "auto" },
      "baseline-gateway": { type: "string" },
      "baseline-router": { type: "boolean", default: false },
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

    const launch = async (
      nodeArgs: readonly string[] = [],
      entry?: string,
      extraEnv: Readonly<Record<string, string>> = {},
    ) => {
      const gateway = startGateway(await freePort(), service.address, nodeArgs, entry, extraEnv);
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
    const baselineEntry = values["baseline-gateway"];
    const baseline = baselineEntry === undefined ? undefined : await launch([], baselineEntry);
    if (baseline !== undefined) cleanups.push(baseline.stop);
    const router = values["baseline-router"]
      ? await launch([], undefined, { GATEWAY_UNARY_FAST_PATH: "false" })
      : undefined;
    if (router !== undefined) cleanups.push(router.stop);
    const cpuPerCall: CpuPerCall = new Map();
    const modes = [
      direct,
      ...httpModes(gateway, ids, "gateway", cpuPerCall),
      ...(baseline === undefined ? [] : httpModes(baseline, ids, "baseline", cpuPerCall)),
      ...(router === undefined ? [] : httpModes(router, ids, "router", cpuPerCall)),
    ];
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
        ...(mode !== direct &&
          !mode.name.startsWith("baseline") &&
          !mode.name.startsWith("router") && { target: TARGET }),
      };
    });
    printTable(rows);
    const cpu: Record<string, { minUs: number; maxUs: number }> = {};
    for (const row of rows.slice(1)) {
      const s = row.summary;
      const perCall = cpuPerCall.get(row.subject) ?? [];
      const range =
        perCall.length === 0 ? undefined : { minUs: Math.min(...perCall), maxUs: Math.max(...perCall) };
      if (range !== undefined) cpu[row.subject] = range;
      process.stdout.write(
        `${row.subject}: ratio ${(row.ratio ?? 0).toFixed(2)} (target >= ${TARGET}), p99 added ${(s.p99Ms - base.p99Ms).toFixed(2)} ms, p50 added ${(s.p50Ms - base.p50Ms).toFixed(2)} ms${range === undefined ? "" : `, gateway CPU ${range.minUs.toFixed(0)}-${range.maxUs.toFixed(0)} µs/call`}\n`,
      );
    }

    const missed = rows.some((r) => r.target !== undefined && (r.ratio ?? 0) < r.target);
    let profile: ReturnType<typeof topCosts> | undefined;
    if (values.profile === "always" || (values.profile === "auto" && missed)) {
      await gateway.stop();
      const dir = mkdtempSync(join(tmpdir(), "tm-gateway-prof-"));
      log(`profiling the gateway (node --cpu-prof) into ${dir}`);
      const profiled = await launch(["--cpu-prof", `--cpu-prof-dir=${dir}`]);
      for (const mode of httpModes(profiled, ids)) await mode.run(load);
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
        gatewayCpuPerCall: cpu,
        profile,
      },
      log,
    );
  });
}

runMain(main, log);
