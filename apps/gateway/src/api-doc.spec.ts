import { fromJsonString } from "@bufbuild/protobuf";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { seedDatabase } from "@taskmaster/persistence/seed";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createServer as createTaskServer } from "@taskmaster/task-service/server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createServer as createTemplateServer } from "@taskmaster/template-service/server";
import { createTestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readApiDoc, streamExample, unaryExamples } from "./api-doc.examples.js";
import { listenGateway, openEdge } from "./gateway.test-util.js";
import { createGatewayServer, type Gateway } from "./server.js";

const logger = createLogger({ service: "api-doc-test", level: "silent" });
const doc = readApiDoc(new URL("../../../docs/api.md", import.meta.url));
const SERVICES = [TaskService, TemplateService];

function methodOf(service: string, method: string) {
  const svc = SERVICES.find((s) => s.typeName === service);
  const m = svc?.methods.find((x) => x.name === method);
  if (!m) throw new Error(`docs/api.md names an unknown RPC ${service}/${method}`);
  return m;
}

describe("docs/api.md", () => {
  const examples = unaryExamples(doc);
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let orm: MikroORM;
  let templateOrm: MikroORM;
  let taskServer: GrpcServer;
  let templateServer: GrpcServer;
  let gateway: Gateway;
  let baseUrl: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = (await initOrm({ url: db.appUrl, pool: { min: 0, max: 8 } })) as MikroORM;
    templateOrm = (await initOrm({ url: db.appUrl, pool: { min: 0, max: 8 } })) as MikroORM;
    await seedDatabase(orm, { demo: false });
    // One ORM (pool) per service, as in separate processes.
    taskServer = createTaskServer({ orm, logger });
    const task = await taskServer.listen("127.0.0.1", 0);
    templateServer = createTemplateServer({
      orm: templateOrm,
      logger,
      taskServiceAddress: `127.0.0.1:${task.port}`,
    });
    const template = await templateServer.listen("127.0.0.1", 0);
    gateway = createGatewayServer({
      logger,
      upstreams: [
        { service: TaskService, address: `127.0.0.1:${task.port}` },
        { service: TemplateService, address: `127.0.0.1:${template.port}` },
      ],
      maxTimeoutMs: 10_000,
      readMaxBytes: 256 * 1024,
      edge: openEdge(logger),
    });
    baseUrl = `http://127.0.0.1:${await listenGateway(gateway)}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => gateway?.server.close(resolve));
    gateway?.close();
    await templateServer?.shutdown(1_000);
    await taskServer?.shutdown(1_000);
    await templateOrm?.close(true);
    await orm?.close(true);
    await db?.drop();
  });

  it("shows the seed's walk-through, every body an exact request message (unknown fields refused)", () => {
    expect(examples.map((e) => e.method)).toEqual([
      "CreateTask",
      "TransitionTaskStatus",
      "CreateTimeLog",
      "CreateTemplate",
      "SearchTemplates",
      "LogTemplateUsage",
      "RenderTemplate",
      "CreateTaskFromTemplate",
      "UpdateTask",
      "CreateTask",
    ]);
    for (const e of examples) {
      expect(() => fromJsonString(methodOf(e.service, e.method).input, e.body), e.method).not.toThrow();
    }
    expect(streamExample(doc)?.method).toBe("WatchTasks");
  });

  it("every example answers as the page says through a real gateway, and WatchTasks accepts the page's envelope", async () => {
    const post = (e: { service: string; method: string; body: string }) =>
      fetch(`${baseUrl}/${e.service}/${e.method}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: e.body,
      });
    const unary = examples.slice(0, -1);
    for (const e of unary) {
      const res = await post(e);
      const text = await res.text();
      expect({ method: e.method, status: res.status, text }).toMatchObject({ method: e.method, status: 200 });
    }
    const render = (await (await post(unary.find((e) => e.method === "RenderTemplate") as never)).json()) as {
      output: string;
    };
    expect(render.output).toContain("# Implement user authentication");
    const search = (await (
      await post(unary.find((e) => e.method === "SearchTemplates") as never)
    ).json()) as {
      results: { template: { slug: string } }[];
    };
    expect(search.results.map((r) => r.template.slug)).toEqual(["feature_implementation"]);

    const bad = examples.at(-1) as (typeof examples)[number];
    const res = await post(bad);
    expect(res.status).toBe(400);
    const err = (await res.json()) as { code: string; message: string; details: { type: string }[] };
    expect(err.code).toBe("invalid_argument");
    expect(err.details.map((d) => d.type)).toContain("google.rpc.BadRequest");
    expect(err.message).toContain("task.title");

    // WatchTasks as the page sends it: one envelope (flags 0, 4-byte big-endian length, JSON).
    const watch = streamExample(doc) as NonNullable<ReturnType<typeof streamExample>>;
    const body = Buffer.from(watch.body);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(body.length, 1);
    const abort = new AbortController();
    const stream = await fetch(`${baseUrl}/${watch.service}/${watch.method}`, {
      method: "POST",
      headers: { "content-type": "application/connect+json" },
      body: Buffer.concat([head, body]),
      signal: abort.signal,
    });
    try {
      expect(stream.status).toBe(200);
      expect(stream.headers.get("content-type")).toBe("application/connect+json");
    } finally {
      abort.abort();
    }
    // Event delivery over Connect JSON is verified against `./taskmaster start` (see the page); here a
    // CreateTimeLog sent right after the stream opened did not answer within the watch's deadline (open lead
    // for the WatchTasks owners, reported with issue 12).
  });
});
