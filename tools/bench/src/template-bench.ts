#!/usr/bin/env node
/**
 * `./taskmaster bench templates`: TemplateService RenderTemplate and GetTemplate (the real service, in its own
 * process) each beside a floor measured in the same run: a bare grpc-js server rendering the same precompiled
 * Handlebars template, and bare grpc-js + raw `pg` for the read (template-floor-server.ts). Client in this
 * process, closed-loop load with pre-encoded requests and the caller identity as metadata.
 * Prints ops/s, p50/p95/p99 and the ratio to the floor; writes the results as JSON.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { JsonObject } from "@bufbuild/protobuf";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { createGrpcClient } from "@taskmaster/rpc-kit/grpc-client";
import { freePort } from "@taskmaster/testing/embedded";
import {
  bestOfRounds,
  commonOptions,
  floorAndServiceRows,
  logger,
  positiveInt,
  prepareBenchDatabase,
  printTable,
  root,
  runMain,
  waitServing,
  withCleanups,
  writeResults,
} from "./harness.js";
import { runLoad } from "./load.js";
import { startFloor, startService } from "./processes.js";
import { type Row, summarize } from "./stats.js";
import { benchInputs, benchMetadata, benchTemplateDraft, templateOperations } from "./template-operations.js";

const DATABASE = "taskmaster_bench_templates";
const usage = `Usage: ./taskmaster bench templates [options]

Measures TemplateService RenderTemplate and GetTemplate (the real service, in its own process, authorizing
every call by the x-taskmaster-actor / x-taskmaster-roles metadata the load generator sends) against floors
measured in the same run: a bare grpc-js server rendering the same precompiled Handlebars template (no
database), and a bare grpc-js server reading the template with the same SQL through raw pg prepared
statements. The benchmark templates are created at setup through the real CreateTemplate RPC, owned by the
benchmark caller; RenderTemplate records a usage row per call, as in production.

Options:
  --duration <ms>     measured time per operation and round (default 5000)
  --warmup <ms>       warm-up before each measurement (default 1000)
  --concurrency <n>   requests in flight (default 64)
  --rounds <n>        alternate floor/service this many times, keep each one's best (default 2)
  --only <names>      comma-separated operation names (GetTemplate,RenderTemplate)
  --inputs <n>        distinct pre-encoded render inputs, used round-robin (default 64)
  --pool <n>          database pool size of both servers (default 8)
  --out <file>        JSON results (default bench-results/templates-<timestamp>.json)
  -h, --help          this help

DATABASE_URL selects the server (a database '${DATABASE}' is created there); without it an embedded
PostgreSQL runs in a temporary directory.`;

const log = logger("bench:templates");

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...commonOptions,
      only: { type: "string" },
      inputs: { type: "string", default: "64" },
      out: { type: "string" },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const num = (name: keyof typeof values) => positiveInt(values, name);
  const poolMax = num("pool");
  const only = values.only?.split(",").map((s) => s.trim());
  const known = ["GetTemplate", "RenderTemplate"];
  const unknown = only?.filter((name) => !known.includes(name)) ?? [];
  if (unknown.length > 0) throw new Error(`--only: unknown operation(s) ${unknown.join(", ")}`);

  await withCleanups(async (cleanups) => {
    const databaseUrl = await prepareBenchDatabase({
      database: DATABASE,
      tmpPrefix: "tm-bench-templates-",
      seed: true,
      log,
      cleanups,
    });

    const floor = await startFloor(
      join(root, "tools/bench/dist/template-floor-server.js"),
      databaseUrl,
      poolMax,
    );
    cleanups.push(floor.stop);
    const service = startService(
      join(root, "apps/template-service/dist/main.js"),
      databaseUrl,
      await freePort(),
      poolMax,
      // CreateTaskFromTemplate is not measured: nothing listens there.
      { env: { TASK_SERVICE_ADDRESS: `127.0.0.1:${await freePort()}` } },
    );
    cleanups.push(service.stop);
    await waitServing("template-service", service);

    const inputs = benchInputs(num("inputs"));
    const setup = await createTemplates(service.address, floor.address, inputs[0] as JsonObject);
    log(`templates: render ${setup.renderId}, get ${setup.getId}`);

    const selected = templateOperations(setup.renderId, setup.getId, inputs).filter(
      (op) => !only || only.includes(op.name),
    );
    const rows: Row[] = [];
    for (const op of selected) {
      const subjects = [
        ["floor", floor],
        ["service", service],
      ] as const;
      const best = await bestOfRounds(num("rounds"), subjects, async ([subject, target], round) => {
        log(`${op.name}: ${subject}, round ${round}`);
        return summarize(
          await runLoad({
            address: target.address,
            path: op.path,
            requests: op.requests,
            concurrency: num("concurrency"),
            warmupMs: num("warmup"),
            durationMs: num("duration"),
            metadata: benchMetadata,
          }),
        );
      });
      const floorName =
        op.name === "RenderTemplate" ? "floor (grpc-js + handlebars)" : "floor (grpc-js + pg)";
      rows.push(
        ...floorAndServiceRows(
          op.name,
          { subject: floorName, summary: best.get(subjects[0]) },
          { subject: "template-service", summary: best.get(subjects[1]), target: op.target },
        ),
      );
    }

    printTable(rows);
    writeResults(
      values.out,
      "templates",
      {
        at: new Date().toISOString(),
        node: process.version,
        concurrency: num("concurrency"),
        pool: poolMax,
        durationMs: num("duration"),
        warmupMs: num("warmup"),
        rounds: num("rounds"),
        inputs: inputs.length,
        outputChars: setup.outputChars,
        rows,
      },
      log,
    );
  });
}

/**
 * Creates the two benchmark templates through the real CreateTemplate RPC as the benchmark caller (so it owns
 * them): one to render (it collects a usage row per render) and one to read (no usage rows, so every GetTemplate
 * reads the same row whatever ran before). Checks that one render through the service and through the floor
 * succeed with the same output, and that the read succeeds on both.
 */
async function createTemplates(
  serviceAddress: string,
  floorAddress: string,
  sampleInput: JsonObject,
): Promise<{ renderId: string; getId: string; outputChars: number }> {
  const service = createGrpcClient(TemplateService, { address: serviceAddress });
  const floor = createGrpcClient(TemplateService, { address: floorAddress });
  const headers = { ...benchMetadata };
  const stamp = `${Date.now().toString(36)}_${process.pid}`;
  const create = async (slug: string) => {
    const res = await service.createTemplate({ template: benchTemplateDraft(slug) }, { headers });
    if (!res.template) throw new Error("CreateTemplate returned no template");
    return res.template.uid;
  };
  const renderId = await create(`bench_render_${stamp}`);
  const getId = await create(`bench_get_${stamp}`);

  const request = { name: `templates/${renderId}`, inputs: sampleInput };
  const [viaService, viaFloor] = await Promise.all([
    service.renderTemplate(request, { headers }),
    floor.renderTemplate(request, { headers }),
  ]);
  if (viaService.output !== viaFloor.output) {
    throw new Error("the floor renders a different output than the service: the comparison would be unfair");
  }
  for (const client of [service, floor]) {
    const got = await client.getTemplate({ name: `templates/${getId}` }, { headers });
    if (got.template?.uid !== getId) throw new Error("GetTemplate returned another template");
  }
  return { renderId, getId, outputChars: viaService.output.length };
}

runMain(main, log);
