#!/usr/bin/env node
/**
 * The people's CLI on the SDK: `./taskmaster tasks|templates|health|status ...` against the gateway
 * (`--gateway`, else TASKMASTER_GATEWAY, else http://127.0.0.1:8080; token from TASKMASTER_TOKEN). Tables for
 * people, `--json` for scripts. Exit codes: 0 ok, 1 other error, 2 usage, 3 not found / nothing to do,
 * 4 invalid argument or failed precondition, 5 unavailable or unhealthy, 6 permission denied or unauthenticated.
 */
import { parseArgs } from "node:util";
import { TaskmasterError } from "@taskmaster/client";
import { type Command, createContext, UsageError } from "./context.js";
import { systemCommands } from "./system.commands.js";
import { taskCommands } from "./tasks.commands.js";
import { templateCommands } from "./templates.commands.js";

const groups: Record<string, Record<string, Command>> = { tasks: taskCommands, templates: templateCommands };

const EXIT: Record<string, number> = {
  not_found: 3,
  invalid_argument: 4,
  failed_precondition: 4,
  already_exists: 4,
  aborted: 4,
  out_of_range: 4,
  unavailable: 5,
  deadline_exceeded: 5,
  permission_denied: 6,
  unauthenticated: 6,
};

const common = {
  gateway: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

function help(group?: string): string {
  const lines = ["Usage: ./taskmaster <tasks|templates> <command> [options] | health | status", ""];
  const show = (name: string, commands: Record<string, Command>) => {
    for (const [sub, c] of Object.entries(commands))
      lines.push(`  ${`${name} ${sub}`.trim().padEnd(22)} ${c.summary}`);
  };
  if (group === undefined || group === "tasks") show("tasks", taskCommands);
  if (group === undefined || group === "templates") show("templates", templateCommands);
  if (group === undefined) show("", systemCommands);
  lines.push(
    "",
    "Options: --gateway URL (env TASKMASTER_GATEWAY, default http://127.0.0.1:8080), --json, -h/--help",
    "Token: TASKMASTER_TOKEN (sent as Authorization: Bearer). Short enum names: feature, high, in_progress, ...",
  );
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [first, second, ...rest] = argv;
  let command: Command | undefined;
  let args: string[];
  if (first !== undefined && first in groups) {
    if (second === undefined || second === "--help" || second === "-h" || second === "help") {
      process.stdout.write(`${help(first)}\n`);
      return second === undefined ? 2 : 0;
    }
    command = groups[first]?.[second];
    args = rest;
  } else {
    command = first === undefined ? undefined : systemCommands[first];
    args = second === undefined ? rest : [second, ...rest];
  }
  if (command === undefined) {
    process.stderr.write(`unknown command: ${[first, second].filter(Boolean).join(" ")}\n\n${help()}\n`);
    return 2;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      options: { ...common, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nUsage: ./taskmaster ${command.usage}\n`);
    return 2;
  }
  const values = parsed.values as Record<string, unknown>;
  if (values.help === true) {
    process.stdout.write(`${command.summary}\nUsage: ./taskmaster ${command.usage}\n`);
    return 0;
  }
  const ctx = createContext({
    gateway:
      (values.gateway as string | undefined) ?? process.env.TASKMASTER_GATEWAY ?? "http://127.0.0.1:8080",
    json: values.json === true,
    token: process.env.TASKMASTER_TOKEN || undefined,
  });
  try {
    await command.run(ctx, parsed.positionals, values);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\nUsage: ./taskmaster ${command.usage}\n`);
      return 2;
    }
    if (error instanceof TaskmasterError) {
      const fields = error.fieldViolations.map((v) => `\n  ${v.field}: ${v.description}`).join("");
      process.stderr.write(`error: ${error.codeName}: ${error.rawMessage}${fields}\n`);
      return EXIT[error.codeName] ?? 1;
    }
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return (error as { exitCode?: number }).exitCode ?? 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
