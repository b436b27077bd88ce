#!/usr/bin/env node
import { mkdtempSync, rmSync } from "node:fs";
/**
 * Tracing overhead: GetTask throughput of the real task service with OpenTelemetry off, at 10 % and at 100 %
 * sampling, exporting OTLP/HTTP protobuf to a local receiver (in this process: counts requests, bytes and
 * spans), in one run on one database. Every mode runs the same binary started with
 * `--import @taskmaster/telemetry/register`; "off" sets OTEL_SDK_DISABLED=true. Modes alternate per round and
 * each keeps its best round. Prints ops/s, latency and the ratio to "off" (target: 100 % >= 0.85).
 */
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { migrateUp } from "@taskmaster/persistence/migrate";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { freePort, startEmbeddedPostgres } from "@taskmaster/testing/embedded";
import pg from "pg";
import { ensureDataset, sampleIds } from "./dataset.js";
import { runLoad } from "./load.js";
import { operations } from "./operations.js";
import { type Child, startService } from "./processes.js";
import { type Row, renderTable, type Summary, summarize } from "./stats.js";

const root = join(import.meta.dirname, "..", "..", "..");
const register = join(root, "libs", "telemetry", "dist", "register.js");

function log(message: string): void {
  process.stderr.write(`[bench:tracing] ${message}\n`);
}

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

async function benchDatabase(serverUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const found = await client.query("select 1 from pg_database where datname = 'taskmaster_bench'");
    if (found.rowCount === 0) await client.query("create database taskmaster_bench");
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = "/taskmaster_bench";
  return url.toString();
}

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

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tasks: { type: "string", default: "20000" },
      duration: { type: "string", default: "5000" },
      warmup: { type: "string", default: "1000" },
      concurrency: { type: "string", default: "32" },
      rounds: { type: "string", default: "2" },
      pool: { type: "string", default: "8" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      "Usage: node tools/bench/dist/tracing-bench.js [--tasks n] [--duration ms] [--warmup ms] [--concurrency n] [--rounds n] [--pool n]\n" +
        "GetTask with tracing off / 10 % / 100 % sampling (OTLP http/protobuf to a local receiver). DATABASE_URL or embedded PostgreSQL.\n",
    );
    return;
  }
  const num = (name: "tasks" | "duration" | "warmup" | "concurrency" | "rounds" | "pool") => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
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
    await ensureDataset(client, num("tasks"), (done, total) => log(`dataset: ${done}/${total} tasks`));
    const ids = await sampleIds(client, 5_000);
    await client.end();

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

    const best = new Map<string, Summary>();
    const spansPerSec = new Map<string, number>();
    for (let round = 1; round <= num("rounds"); round++) {
      for (const mode of modes) {
        const service = startService(
          join(root, "apps/task-service/dist/main.js"),
          databaseUrl,
          await freePort(),
          num("pool"),
          { nodeArgs: [`--import=${register}`], env: mode.env },
        );
        try {
          await waitServing(service);
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
          const prev = best.get(mode.name);
          if (prev === undefined || summary.opsPerSec > prev.opsPerSec) {
            best.set(mode.name, summary);
            spansPerSec.set(mode.name, (receiver.stats.spans - spansBefore) / seconds);
          }
        } finally {
          await service.stop();
        }
      }
    }
    const off = best.get("tracing off");
    const rows: Row[] = modes.map((mode) => {
      const summary = best.get(mode.name) as Summary;
      return {
        operation: "GetTask",
        subject: mode.name,
        summary,
        ratio: off ? summary.opsPerSec / off.opsPerSec : undefined,
        ...(mode.name === "100% sampling" && { target: 0.85 }),
      };
    });
    process.stdout.write(`\n${renderTable(rows)}\n\n`);
    for (const mode of modes.slice(1)) {
      process.stdout.write(
        `${mode.name}: ~${Math.round(spansPerSec.get(mode.name) ?? 0)} spans/s received by the OTLP receiver (best round, incl. warm-up and export lag)\n`,
      );
    }
    process.stdout.write(
      `receiver total: ${receiver.stats.requests} requests, ${receiver.stats.bytes} bytes, ${receiver.stats.spans} spans\n`,
    );
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

main().catch((error: Error) => {
  log(error.message);
  process.exitCode = 1;
});
