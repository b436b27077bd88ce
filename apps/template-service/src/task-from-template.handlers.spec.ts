/**
 * CreateTaskFromTemplate end to end against a REAL task-service server (port 0) sharing the test database:
 * the rendered output becomes the task, caller identity and trace context reach TaskService, and a retry
 * with the same request_id returns the same task.
 */
import { randomUUID } from "node:crypto";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { seedDatabase } from "@taskmaster/persistence/seed";
import { TemplateReviewStatus } from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { createGrpcJsTransport, type GrpcJsTransport } from "@taskmaster/rpc-kit/grpc-client";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createServer as createTaskServer } from "@taskmaster/task-service/server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure, uniq, violatedFields } from "./harness.test-util.js";
import { makeTemplate } from "./render.test-util.js";
import { createServer } from "./server.js";
import { uuidV5 } from "./task-from-template.handlers.js";

let db: TestDatabase;
let orm: MikroORM;
let taskServer: GrpcServer;
let templateServer: GrpcServer;
let transport: GrpcJsTransport;
let client: Client<typeof TemplateService>;
/** Headers of every outgoing TaskService call, as sent. */
const sent: Headers[] = [];
const TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

beforeAll(async () => {
  db = await createTestDatabase();
  orm = (await initOrm({ url: db.appUrl, pool: { min: 0, max: 8 } })) as MikroORM;
  await seedDatabase(orm, { demo: false });
  const logger = createLogger({ service: "tft-test", level: "silent" });
  taskServer = createTaskServer({ orm, logger });
  const { port: taskPort } = await taskServer.listen("127.0.0.1", 0);
  transport = createGrpcJsTransport({
    address: `127.0.0.1:${taskPort}`,
    interceptors: [
      (next) => async (req) => {
        sent.push(new Headers(req.header));
        return next(req);
      },
    ],
  });
  templateServer = createServer({ orm, logger, taskService: transport });
  const { port } = await templateServer.listen("127.0.0.1", 0);
  client = createClient(
    TemplateService,
    createGrpcTransport({
      baseUrl: `http://127.0.0.1:${port}`,
      interceptors: [
        (next) => async (req) => {
          req.header.set("x-taskmaster-actor", "alice");
          req.header.set("traceparent", TRACEPARENT);
          return next(req);
        },
      ],
    }),
  );
});

afterAll(async () => {
  await templateServer?.shutdown(1_000);
  transport?.close();
  await taskServer?.shutdown(1_000);
  await orm?.close(true);
  await db?.drop();
});

async function taskTemplate(content = "## {{feature_name}}\n{{#each steps}}- [ ] {{this}}\n{{/each}}") {
  return makeTemplate(client, {
    slug: uniq("tsk"),
    templateType: "templateTypes/task_template",
    content,
    variables: [{ name: "feature_name", required: true }, { name: "steps" }],
    parameters: { title: "Implement the feature" },
  });
}

describe("CreateTaskFromTemplate", () => {
  it("renders and creates the task via TaskService, passing identity and trace context on", async () => {
    const t = await taskTemplate();
    const res = await client.createTaskFromTemplate({
      name: t.name,
      inputs: { feature_name: "Login ✓ '; --", steps: ["a", "b"] },
      task: { title: "Login page" },
    });
    expect(res.version).toBe("1.0.0");
    expect(res.output).toBe("## Login ✓ &#x27;; --\n- [ ] a\n- [ ] b\n");
    expect(res.task?.name).toMatch(/^tasks\/[0-9a-f-]{36}$/);
    expect(res.task?.title).toBe("Login page");
    expect(res.task?.description).toBe(res.output);
    expect(res.task?.reporter).toBe("alice");
    const last = sent[sent.length - 1];
    expect(last?.get("traceparent")).toBe(TRACEPARENT);
    expect(last?.get("x-taskmaster-actor")).toBe("alice");
    // The usage log names the created task.
    const logs = await client.listTemplateUsageLogs({ parent: t.name });
    expect(logs.templateUsageLogs.map((l) => l.task)).toEqual([res.task?.name]);
  });

  it("puts the output into technical_notes when the base task has a description", async () => {
    const t = await taskTemplate("notes for {{feature_name}}");
    const res = await client.createTaskFromTemplate({
      name: t.name,
      inputs: { feature_name: "x" },
      task: { title: "With description", description: "mine" },
    });
    expect(res.task?.description).toBe("mine");
    expect(res.task?.technicalNotes).toBe("notes for x");
  });

  it("is idempotent end to end by request_id (same task, one usage log)", async () => {
    const t = await taskTemplate();
    const requestId = randomUUID();
    const req = {
      name: t.name,
      inputs: { feature_name: "retry" },
      task: { title: "Retried task" },
      requestId,
    };
    const a = await client.createTaskFromTemplate(req);
    const b = await client.createTaskFromTemplate(req);
    expect(b.task?.name).toBe(a.task?.name);
    const logs = await client.listTemplateUsageLogs({ parent: t.name });
    expect(logs.templateUsageLogs).toHaveLength(1);
    expect(uuidV5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com")).toBe(
      "2ed6657d-e927-568b-95e1-2665a8aea6a2",
    );
  });

  it("refuses an unapproved version of a template requiring approval, then creates once approved", async () => {
    const t = await makeTemplate(client, {
      slug: uniq("tsk"),
      templateType: "templateTypes/task_template",
      content: "gated {{feature_name}}",
      variables: [{ name: "feature_name", required: true }],
      parameters: { title: "Gated" },
      requiresApproval: true,
    });
    const req = { name: t.name, inputs: { feature_name: "x" }, task: { title: "Gated task" } };
    const before = sent.length;
    await failure(client.createTaskFromTemplate(req), Code.FailedPrecondition);
    await failure(client.createTaskFromTemplate({ ...req, version: "1.0.0" }), Code.FailedPrecondition);
    expect(sent.length, "no TaskService call for an unapproved version").toBe(before);
    const review = await client.requestTemplateReview({
      parent: t.name,
      templateReview: { version: "1.0.0" },
    });
    await client.decideTemplateReview({
      name: review.templateReview?.name as string,
      decision: TemplateReviewStatus.APPROVED,
      rating: 4,
    });
    const res = await client.createTaskFromTemplate(req);
    expect(res.version).toBe("1.0.0");
    expect(res.task?.description).toBe("gated x");
  });

  it("validate_only creates nothing; TaskService errors and bad input come back", async () => {
    const t = await taskTemplate();
    const dry = await client.createTaskFromTemplate({
      name: t.name,
      inputs: { feature_name: "dry" },
      task: { title: "Dry run task" },
      validateOnly: true,
    });
    expect(dry.output).toContain("dry");
    expect((await client.listTemplateUsageLogs({ parent: t.name })).templateUsageLogs).toHaveLength(0);
    // TaskService refuses an empty title: its INVALID_ARGUMENT reaches the caller, the failure is logged.
    const err = await failure(
      client.createTaskFromTemplate({ name: t.name, inputs: { feature_name: "x" }, task: { title: "" } }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toContain("task.title");
    const failed = await client.listTemplateUsageLogs({ parent: t.name, filter: "success = false" });
    expect(failed.templateUsageLogs).toHaveLength(1);
    let bad = await failure(
      client.createTaskFromTemplate({
        name: "templates/x",
        taskId: "nope",
        requestId: "nope",
        version: "1.2",
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(bad).sort()).toEqual(["name", "request_id", "task_id", "version"]);
    bad = await failure(client.createTaskFromTemplate({ name: t.name, inputs: {} }), Code.InvalidArgument);
    expect(violatedFields(bad)).toEqual(["inputs.feature_name"]);
    // Not a task template.
    const prompt = await makeTemplate(client);
    await failure(
      client.createTaskFromTemplate({
        name: prompt.name,
        inputs: { feature_name: "x" },
        task: { title: "Nope nope" },
      }),
      Code.FailedPrecondition,
    );
  });
});

describe("RenderTemplate naming a task", () => {
  it("asks TaskService whether the task exists (as the caller), not task-service's table", async () => {
    const t = await makeTemplate(client, { slug: uniq("rnd") });
    const inputs = { feature_name: "search", objective: "ship", steps: ["x"] };
    const made = await client.createTaskFromTemplate({
      name: (await taskTemplate()).name,
      inputs: { feature_name: "f", steps: [] },
      task: { title: "Rendered for" },
    });
    const task = made.task?.name as string;
    const before = sent.length;
    const res = await client.renderTemplate({ name: t.name, inputs, task });
    expect(res.output).toContain("search");
    expect(sent.length, "one TaskService call (GetTask)").toBe(before + 1);
    expect(sent[sent.length - 1]?.get("x-taskmaster-actor")).toBe("alice");
    expect(sent[sent.length - 1]?.get("traceparent")).toBe(TRACEPARENT);
    const missing = await failure(
      client.renderTemplate({ name: t.name, inputs, task: `tasks/${randomUUID()}` }),
      Code.InvalidArgument,
    );
    expect(violatedFields(missing)).toEqual(["task"]);
    expect(sent.length).toBe(before + 2);
  });
});
