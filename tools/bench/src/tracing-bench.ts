#!/usr/bin/env node
/**
 * Tracing overhead: GetTask throughput of the real task service with OpenTelemetry off, at 10 % and at 100 %
 * sampling, exporting OTLP/HTTP protobuf to a local receiver (in this process: counts requests, bytes and
 * spans), in one run on one database. Every mode runs the same binary started with
 * `--import @taskmaster/telemetry/register`; "off" sets OTEL_SDK_DISABLED=true. Modes alternate per round and
 * each keeps its best round. Prints ops/s, latency and the ratio to "off" (target: 100 % >= 0.85).
 */
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { freePort } from "@taskmaster/testing/embedded";
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
  waitServing,
  withCleanups,
} from "./harness.js";
import { runLoad } from "./load.js";
import { operations } from "./operations.js";
import { startService } from "./processes.js";
import { type Row, type Summary, summarize } from "./stats.js";

const register = join(root, "libs", "telemetry", "dist", "register.js");

const log = logger("bench:tracing");

interface Receiver {
  readonly url: string;
  readonly stats: { requests: number; bytes: number; spans: number };
  close(): Promise<void>;
}

/** Number of spans in an ExportTraceServiceRequest (resource_spans=1 > scope_spans=2 > spans=2). */
function countSpans(body: Uint8Array): number {
  let n = 0;
  const walk = (bytes: Uint8Array, depth: number) => {
    const r = new BinaryReader(bytes);
    while (r.pos < r.len) {
      const [field, wire] = r.tag();
      if (depth === 0 && field === 1) walk(r.bytes(), 1);
      else if (depth === 1 && field === 2) walk(r.bytes(), 2);
      else if (depth === 2 && field === 2) {
        r.skip(wire, field);
        n++;
      } else r.skip(wire, field);
    }
  };
  walk(body, 0);
  return n;
}

async function startReceiver(): Promise<Receiver> {
  const stats = { requests: 0, bytes: 0, spans: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      stats.requests++;
      stats.bytes += body.length;
      if (req.url === "/v1/traces") stats.spans += countSpans(body);
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Mode {
  readonly name: string;
  readonly env: Record<string, string>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tasks: { type: "string", default: "20000" },
      ...commonOptions,
      concurrency: { type: "string", default: "32" },
    },
  });
  if (values.help) {
    process.stdout.write(
      "Usage: node tools/bench/dist/tracing-bench.js [--tasks n] [--duration ms] [--warmup ms] [--concurrency n] [--rounds n] [--pool n]\n" +
        "GetTask with tracing off / 10 % / 100 % sampling (OTLP http/protobuf to a local receiver). DATABASE_URL or embedded PostgreSQL.\n",
    );
    return;
  }
  const num = (name: "tasks" | "duration" | "warmup" | "concurrency" | "rounds" | "pool") =>
    positiveInt(values, name);
  await withCleanups(async (cleanups) => {
    const databaseUrl = await prepareBenchDatabase({
      database: "taskmaster_bench",
      tmpPrefix: "tm-bench-",
      log,
      cleanups,
    });
    const ids = await prepareDataset(databaseUrl, num("tasks"), (done, total) =>
      log(`dataset: ${done}/${total} tasks`),
    );

    const receiver = await startReceiver();
    cleanups.push(receiver.close);
    const otlp = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
      OTEL_METRIC_EXPORT_INTERVAL: "5000",
    };
    const modes: Mode[] = [
      { name: "tracing off", env: { OTEL_SDK_DISABLED: "true" } },
      {
        name: "10% sampling",
        env: { ...otlp, OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.1" },
      },
      { name: "100% sampling", env: { ...otlp, OTEL_TRACES_SAMPLER: "parentbased_always_on" } },
    ];
    const getTask = operations(ids).find((op) => op.name === "GetTask");
    if (getTask === undefined) throw new Error("GetTask operation missing");

    const spansPerSec = new Map<string, number>();
    let roundSpansPerSec = 0;
    const best = await bestOfRounds(
      num("rounds"),
      modes,
      async (mode, round) => {
        const service = startService(
          join(root, "apps/task-service/dist/main.js"),
          databaseUrl,
          await freePort(),
          num("pool"),
          { nodeArgs: [`--import=${register}`], env: mode.env },
        );
        try {
          await waitServing("task-service", service);
          log(`${mode.name}: round ${round}`);
          const spansBefore = receiver.stats.spans;
          const summary = summarize(
            await runLoad({
              address: service.address,
              path: getTask.path,
              requests: getTask.requests,
              concurrency: num("concurrency"),
              warmupMs: num("warmup"),
              durationMs: num("duration"),
            }),
          );
          const seconds = (num("warmup") + num("duration")) / 1000;
          roundSpansPerSec = (receiver.stats.spans - spansBefore) / seconds;
          return summary;
        } finally {
          await service.stop();
        }
      },
      (mode) => spansPerSec.set(mode.name, roundSpansPerSec),
    );
    const off = best.get(modes[0] as Mode);
    const rows: Row[] = modes.map((mode) => {
      const summary = best.get(mode) as Summary;
      return {
        operation: "GetTask",
        subject: mode.name,
        summary,
        ratio: off ? summary.opsPerSec / off.opsPerSec : undefined,
        ...(mode.name === "100% sampling" && { target: 0.85 }),
      };
    });
    printTable(rows);
    for (const mode of modes.slice(1)) {
      process.stdout.write(
        `${mode.name}: ~${Math.round(spansPerSec.get(mode.name) ?? 0)} spans/s received by the OTLP receiver (best round, incl. warm-up and export lag)\n`,
      );
    }
    process.stdout.write(
      `receiver total: ${receiver.stats.requests} requests, ${receiver.stats.bytes} bytes, ${receiver.stats.spans} spans\n`,
    );
  });
}

runMain(main, log);
