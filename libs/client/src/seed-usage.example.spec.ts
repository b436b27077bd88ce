/**
 * examples/ts/seed-usage.ts as a user runs it (`./taskmaster example seed-usage`: Node 24 runs the TypeScript
 * file as is) against a real stack; what it prints is read back through the SDK. Also holds the example to
 * the budget: no more non-blank lines, imports aside, than the seed's JavaScript (about 60).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TaskStatus, TaskType } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTaskmasterClient } from "./client.js";
import { type ProcessResult, runProcess } from "./run-process.test-util.js";
import { type Stack, startStack } from "./stack.test-util.js";

const root = join(import.meta.dirname, "..", "..", "..");
const example = join(root, "examples", "ts", "seed-usage.ts");

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

function run(gateway: string): Promise<ProcessResult> {
  return runProcess(
    process.execPath,
    [join(root, "tools", "cli", "taskmaster.mjs"), "example", "seed-usage"],
    {
      cwd: root,
      env: { ...process.env, TASKMASTER_GATEWAY: gateway },
    },
  );
}

it("fits the seed's line budget", () => {
  const lines = readFileSync(example, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("import "));
  expect(lines.length).toBeLessThanOrEqual(60);
});

it("runs against the stack and creates what it prints", async () => {
  const { code, out, err } = await run(stack.gatewayUrl);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  const [, taskName] = /^task\s+(tasks\/\S+)/m.exec(out) ?? [];
  const [, templateName] = /^template\s+(templates\/\S+)/m.exec(out) ?? [];
  const [, fromTemplate] = /^task from it\s+(tasks\/\S+)/m.exec(out) ?? [];
  const tm = createTaskmasterClient({ baseUrl: stack.gatewayUrl });
  const task = await tm.tasks.get(taskName ?? "");
  expect([task.type, task.status, task.actualHours, task.storyPoints]).toEqual([
    TaskType.FEATURE,
    TaskStatus.IN_PROGRESS,
    2.5,
    8,
  ]);
  const template = await tm.templates.get(templateName ?? "");
  expect(template.tags).toEqual(["feature", "development", "standard"]);
  const usage = await tm.template.listTemplateUsageLogs({ parent: template.name });
  expect(usage.templateUsageLogs.map((u) => [u.usedBy, u.task])).toContainEqual(["codegen-agent", task.name]);
  const made = await tm.tasks.get(fromTemplate ?? "");
  expect(made.description).toContain("# Password reset");
  expect(made.description).toContain("- [ ] Old password stops working");
  expect(out).toContain("- Link expires after 1 hour");
});
