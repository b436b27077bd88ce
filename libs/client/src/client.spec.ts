/**
 * The SDK against a real stack (services + gateway on port 0, real PostgreSQL): the seed's operations through
 * the gateway over Connect and gRPC-Web and straight to the services over gRPC; typed errors with decoded
 * details; request ids; pagination; a watch that resumes after the gateway cuts every connection.
 */
import { TaskEventKind } from "@taskmaster/proto/gen/taskmaster/task/v1/event_pb";
import { TaskPriority, TaskStatus, TaskType } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTaskmasterClient, type Protocol } from "./client.js";
import { TaskmasterError } from "./errors.js";
import { collect } from "./paginate.js";
import { type Stack, startStack } from "./stack.test-util.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

const seedTask = {
  title: "Implement user authentication",
  description: "Add JWT-based authentication to the API",
  type: "feature",
  priority: "high",
  complexity: "complex",
  storyPoints: 8,
  businessValue: 9,
  estimatedHours: 16,
  acceptanceCriteria: ["Users can log in", "Tokens expire after 24h", "Passwords are hashed"],
  technicalNotes: "Use bcrypt for password hashing",
  securityRequirements: { encryption: "AES-256", tokenExpiry: "24h" },
} as const;

describe.each<[string, Protocol, boolean]>([
  ["gateway, Connect", "connect", false],
  ["gateway, gRPC-Web", "grpc-web", false],
  ["services directly, gRPC", "grpc", true],
])("the seed's operations: %s", (_label, protocol, direct) => {
  const client = () =>
    createTaskmasterClient(
      direct
        ? { baseUrl: stack.direct.task, protocol, endpoints: stack.direct, actor: "developer" }
        : { baseUrl: stack.gatewayUrl, protocol },
    );

  it("creates an enhanced task with short enum names, moves it to in progress and logs time", async () => {
    const tm = client();
    const task = await tm.tasks.create({ ...seedTask, acceptanceCriteria: [...seedTask.acceptanceCriteria] });
    expect(task.name).toMatch(/^tasks\/[0-9a-f-]{36}$/);
    expect([task.type, task.priority, task.storyPoints, task.estimatedHours]).toEqual([
      TaskType.FEATURE,
      TaskPriority.HIGH,
      8,
      16,
    ]);
    expect(task.securityRequirements).toEqual({ encryption: "AES-256", tokenExpiry: "24h" });
    const started = await tm.tasks.setStatus(task, "in_progress");
    expect(started.status).toBe(TaskStatus.IN_PROGRESS);
    const log = await tm.tasks.logTime(task.name, { hours: 2.5, activity: "Initial research and planning" });
    expect(log.hours).toBe(2.5);
    expect((await tm.tasks.get(task.name)).actualHours).toBe(2.5);
  });

  it("stores a template, finds it, renders it, creates a task from it and logs usage", async () => {
    const tm = client();
    const slug = `feature_implementation_${protocol.replace("-", "_")}`;
    const template = await tm.templates.create({
      slug,
      title: "Feature Implementation Template",
      type: "task_template",
      content: "Implement {{feature_name}}\n{{#each requirements}}- {{this}}\n{{/each}}{{technical_notes}}",
      variables: ["feature_name", "requirements", "technical_notes"],
      tags: ["feature", "development", "standard"],
    });
    const found = await tm.templates.search({ type: "task_template", tags: ["feature"], active: true });
    expect(found.map((t) => t.name)).toContain(template.name);
    const inputs = { feature_name: "Login", requirements: ["JWT", "bcrypt"], technical_notes: "Use bcrypt" };
    const rendered = await tm.templates.render(template, inputs);
    expect(rendered.output).toBe("Implement Login\n- JWT\n- bcrypt\nUse bcrypt");
    const made = await tm.templates.createTask(template, inputs, { title: "Login feature", type: "feature" });
    expect(made.task.description).toBe(rendered.output);
    const usage = await tm.templates.logUsage(template, {
      task: made.task,
      usedBy: "codegen-agent",
      executionTime: 150,
      success: true,
    });
    expect([usage.usedBy, usage.success, usage.task]).toEqual(["codegen-agent", true, made.task.name]);
  });
});

describe("client behaviour", () => {
  it("gives creates a request_id (a UUID) and leaves one the caller set", async () => {
    const seen: string[] = [];
    const tm = createTaskmasterClient({
      baseUrl: stack.gatewayUrl,
      interceptors: [
        (next) => (req) => {
          seen.push((req.message as { requestId?: string }).requestId ?? "<none>");
          return next(req);
        },
      ],
    });
    await tm.tasks.create({ title: "Request id check" });
    await tm.task.createTask({
      task: { title: "Request id given" },
      requestId: "0190a0b0-0000-7000-8000-00000000abcd",
    });
    await tm.task.listTasks({ pageSize: 1 });
    expect(seen[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(seen[1]).toBe("0190a0b0-0000-7000-8000-00000000abcd");
    expect(seen[2]).toBe("<none>");
  });

  it("throws TaskmasterError with the code and decoded field violations", async () => {
    const tm = createTaskmasterClient({ baseUrl: stack.gatewayUrl });
    const invalid = await tm.tasks.create({ title: "" }).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(TaskmasterError);
    expect((invalid as TaskmasterError).codeName).toBe("invalid_argument");
    expect((invalid as TaskmasterError).fieldViolations.map((v) => v.field)).toContain("task.title");
    const missing = await tm.tasks.get("0190a0b0-0000-7000-8000-0000000000ff").catch((e: unknown) => e);
    expect((missing as TaskmasterError).codeName).toBe("not_found");
    await expect(tm.tasks.create({ title: "x", type: "featur" })).rejects.toThrow(
      /unknown TaskType "featur"/,
    );
  });

  it("iterates every page of a list", async () => {
    const tm = createTaskmasterClient({ baseUrl: stack.gatewayUrl });
    const label = `paged${Date.now().toString(36)}`;
    for (let i = 0; i < 5; i++) await tm.tasks.create({ title: `Paged task ${i}`, labels: [label] });
    const all = await collect(tm.tasks.list({ filter: `labels:"${label}"`, orderBy: "title", pageSize: 2 }));
    expect(all.map((t) => t.title)).toEqual([0, 1, 2, 3, 4].map((i) => `Paged task ${i}`));
  });

  it("watch() resumes from the last resume token after the gateway drops the connection", async () => {
    const tm = createTaskmasterClient({ baseUrl: stack.gatewayUrl });
    const direct = createTaskmasterClient({ baseUrl: stack.direct.task, protocol: "grpc" });
    const abort = new AbortController();
    const reconnects: unknown[] = [];
    const iterator = tm.tasks
      .watch(
        { kinds: [TaskEventKind.CREATED] },
        { signal: abort.signal, onReconnect: (e) => reconnects.push(e) },
      )
      [Symbol.asyncIterator]();
    // The server registers the watch asynchronously: create tasks until the first event arrives (no sleeps).
    const first = iterator.next();
    let arrived = false;
    void first.then(() => {
      arrived = true;
    });
    const before: string[] = [];
    while (!arrived) before.push((await tm.tasks.create({ title: `Watched before ${before.length}` })).name);
    const seen = [(await first).value?.task];
    expect(before).toContain(seen[0]);
    stack.gateway.closeAllConnections();
    const cutOff = await direct.tasks.create({ title: "Watched while cut off" });
    while (seen.at(-1) !== cutOff.name) {
      const next = await iterator.next();
      expect(next.done).toBe(false);
      seen.push(next.value?.task);
    }
    // Every task created before the cut arrived once, in order, then the one created while cut off.
    expect(seen).toEqual([...before.slice(before.indexOf(seen[0] ?? "")), cutOff.name]);
    expect(reconnects.length).toBeGreaterThanOrEqual(1);
    abort.abort();
    expect((await iterator.next()).done).toBe(true);
  });
});
