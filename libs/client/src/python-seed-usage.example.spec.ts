/**
 * examples/python/seed_usage.py as a Python user runs it: stubs generated from proto/ by grpcio-tools, the
 * seed's examples over native gRPC straight to the services, one task read back over Connect JSON through the
 * gateway. Runs in the git-ignored `.venv-python/` (created once from the pip index; a failed install fails
 * this spec). What the script prints is read back through the SDK.
 */
import { join } from "node:path";
import {
  TaskComplexity,
  TaskPriority,
  TaskStatus,
  TaskType,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTaskmasterClient } from "./client.js";
import { ensurePythonVenv, type PythonVenv } from "./python-venv.test-util.js";
import { type ProcessResult, runProcess } from "./run-process.test-util.js";
import { type Stack, startStack } from "./stack.test-util.js";

const root = join(import.meta.dirname, "..", "..", "..");
const script = join(root, "examples", "python", "seed_usage.py");

let stack: Stack;
let venv: PythonVenv;
beforeAll(async () => {
  venv = ensurePythonVenv(root);
  stack = await startStack({ identity: true });
}, 600_000);
afterAll(async () => {
  await stack?.close();
});

function run(args: string[]): Promise<ProcessResult> {
  return runProcess(venv.python, [script, ...args], { cwd: root });
}

const hostPort = (url: string) => new URL(url).host;

it("performs the seed's examples over gRPC and reads the task back through the gateway", async () => {
  const { code, out, err } = await run([
    "--grpc",
    hostPort(stack.direct.task),
    "--template-grpc",
    hostPort(stack.direct.template),
    "--gateway",
    stack.gatewayUrl,
  ]);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  const [, taskName] = /^task\s+(tasks\/\S+)/m.exec(out) ?? [];
  const [, templateName] = /^template\s+(templates\/\S+)/m.exec(out) ?? [];
  const [, viaGateway] = /^via gateway\s+(tasks\/\S+)/m.exec(out) ?? [];
  expect(viaGateway).toBe(taskName);
  const tm = createTaskmasterClient({ baseUrl: stack.gatewayUrl });
  const task = await tm.tasks.get(taskName ?? "");
  expect([
    task.type,
    task.priority,
    task.complexity,
    task.status,
    task.storyPoints,
    task.businessValue,
    task.estimatedHours,
    task.actualHours,
    task.acceptanceCriteria.length,
    task.securityRequirements,
  ]).toEqual([
    TaskType.FEATURE,
    TaskPriority.HIGH,
    TaskComplexity.COMPLEX,
    TaskStatus.IN_PROGRESS,
    8,
    9,
    16,
    2.5,
    3,
    { encryption: "AES-256", tokenExpiry: "24h" },
  ]);
  const template = await tm.templates.get(templateName ?? "");
  expect(template.tags).toEqual(["feature", "development", "standard"]);
  const usage = await tm.template.listTemplateUsageLogs({ parent: template.name });
  expect(usage.templateUsageLogs.map((u) => [u.usedBy, u.task])).toContainEqual(["codegen-agent", task.name]);
});
