/**
 * The CLI as people run it (`node tools/task-cli/dist/main.js`, what `./taskmaster tasks ...` starts) against a
 * real stack: tables, --json, exit codes, --help on every command.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ProcessResult, runProcess } from "../../../libs/client/src/run-process.test-util.js";
import { type Stack, startStack } from "../../../libs/client/src/stack.test-util.js";
import { taskCommands } from "./tasks.commands.js";
import { templateCommands } from "./templates.commands.js";

const main = join(import.meta.dirname, "..", "dist", "main.js");
// Each test starts several CLI processes (a cold Node start each, about 1 s idle, far more on a loaded CI
// machine): the budget is per process count, not a wait for anything to happen.
const SPAWNING = { timeout: 120_000 };
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ identity: true });
});
afterAll(async () => {
  await stack?.close();
});

function cli(...args: string[]): Promise<ProcessResult> {
  return runProcess(process.execPath, [main, ...args, "--gateway", stack.gatewayUrl]);
}

describe("tasks", () => {
  it("create, status, log-time, get, list --json with a filter", SPAWNING, async () => {
    const created = await cli(
      "tasks",
      "create",
      "--title",
      "CLI task",
      "--type",
      "bug",
      "--priority",
      "high",
      "--label",
      "clitask",
      "--json",
    );
    expect(created.code).toBe(0);
    const name = (JSON.parse(created.out) as { name: string }).name;
    expect((await cli("tasks", "status", name, "in_progress")).out).toMatch(/status\s+in_progress/);
    expect((await cli("tasks", "log-time", name, "1.5", "--activity", "triage")).code).toBe(0);
    const shown = await cli("tasks", "get", name);
    expect(shown.out).toMatch(/actual h\s+1\.5/);
    const listed = await cli("tasks", "list", "--filter", 'type = BUG AND labels:"clitask"', "--json");
    expect(listed.err).toBe("");
    expect((JSON.parse(listed.out) as { name: string }[]).map((t) => t.name)).toEqual([name]);
    const table = await cli("tasks", "list", "--order-by", "create_time desc", "--limit", "1");
    expect(table.out.split("\n")[0]).toMatch(/^NAME\s+STATUS\s+PRIORITY\s+TYPE\s+TITLE$/);
  });

  it("exits 3 for an unknown task, 4 for invalid input, 2 for usage errors", SPAWNING, async () => {
    expect((await cli("tasks", "get", "0190a0b0-0000-7000-8000-0000000000ff")).code).toBe(3);
    const invalid = await cli("tasks", "create", "--title", "x", "--points", "1000000");
    expect(invalid.code).toBe(4);
    expect(invalid.err).toContain("story_points");
    expect((await cli("tasks", "create")).code).toBe(2);
    expect((await cli("tasks", "frobnicate")).code).toBe(2);
  });

  it.each([
    ...Object.keys(taskCommands).map((c) => ["tasks", c]),
    ...Object.keys(templateCommands).map((c) => ["templates", c]),
    ["health"],
    ["status"],
  ])("%s %s --help", async (...words) => {
    const res = await cli(...(words as string[]), "--help");
    expect(res.code).toBe(0);
    expect(res.out).toContain("Usage: ./taskmaster");
  });
});

describe("templates, health, status", () => {
  it("create, list by tag, render, create-task", SPAWNING, async () => {
    const made = await cli(
      "templates",
      "create",
      "--slug",
      "cli_template",
      "--title",
      "CLI template",
      "--type",
      "task_template",
      "--content",
      "Fix {{what}}",
      "--var",
      "what",
      "--tag",
      "cli",
    );
    expect(made.code).toBe(0);
    const [name] = /templates\/\S+/.exec(made.out) ?? [];
    expect((await cli("templates", "list", "--tag", "cli")).out).toContain(name);
    expect((await cli("templates", "render", name ?? "", "--input", "what=the build")).out.trim()).toBe(
      "Fix the build",
    );
    const task = await cli("templates", "create-task", name ?? "", "--input", "what=it", "--json");
    expect((JSON.parse(task.out) as { description: string }).description).toBe("Fix it");
  });

  it(
    "health and status answer (the developer is admin through the development gateway)",
    SPAWNING,
    async () => {
      const health = await cli("health", "--json");
      expect(health.code).toBe(0);
      const status = await cli("status", "--json");
      expect({ code: status.code, err: status.err }).toEqual({ code: 0, err: "" });
    },
  );
});
