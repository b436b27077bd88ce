#!/usr/bin/env node
// The project's command line. Reached through ./taskmaster, which guarantees Node 24 and installed
// dependencies first. Plain JavaScript on purpose: it must run before anything is built.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bin = (name) => join(root, "node_modules", ".bin", name);

const commands = {
  start: {
    summary:
      "Start the whole stack: embedded PostgreSQL (unless DATABASE_URL is set), migrations, services, gateway",
    run: async (args) => {
      // TASKMASTER_NO_BUILD=1: already built (tests that run the command inside a build).
      if (process.env.TASKMASTER_NO_BUILD !== "1") await build();
      await exec(process.execPath, [join(root, "tools/dev/dist/launcher.js"), ...args]);
    },
  },
  test: {
    summary: "Run every check: contract lint/breaking/drift, type check, Biome, and all test suites",
    run: async (args) => {
      await exec(process.execPath, [join(root, "tools/proto/check.mjs")]);
      // Files outside the workspaces' own lint runs: the CLI, proto tools, migrations, root configs.
      await exec(bin("biome"), [
        "check",
        "tools/cli",
        "tools/proto",
        "migrations",
        "vitest.shared.ts",
        "turbo.json",
      ]);
      const totals = { passed: 0, failed: 0, skipped: 0 };
      let failure;
      try {
        await turbo(
          ["run", "build", "lint", "test", "test:clusters", "--continue", "--concurrency=4", ...args],
          "full",
          (line) => countTests(line, totals),
        );
      } catch (error) {
        failure = error;
      }
      // One plain closing line that any CI reads, summed over every package's Vitest run.
      process.stdout.write(
        `tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`,
      );
      if (failure) throw failure;
      // A second guard: a runner that reported failures must fail the command even if its exit code did not.
      if (totals.failed > 0) throw new Error(`${totals.failed} test(s) failed`);
      if (totals.passed === 0) throw new Error("no test ran");
      step("all checks passed");
    },
  },
  faults: {
    summary:
      "Fault suite on the real stack (embedded PostgreSQL): database restart/stop/freeze, blackhole, kill -9, connection exhaustion; a table of figures; './taskmaster faults --help'",
    run: async (args) => {
      if (process.env.TASKMASTER_NO_BUILD !== "1" && !args.includes("--help") && !args.includes("-h"))
        await build();
      await exec(process.execPath, [join(root, "tools/dev/dist/faults.js"), ...args]);
    },
  },
  build: { summary: "Generate code and compile every package (cached by turbo)", run: () => build() },
  lint: {
    summary: "Biome and the TypeScript type check on every package",
    run: (a) => turbo(["run", "lint", ...a]),
  },
  generate: {
    summary: "Regenerate protobuf-es code from proto/ (commit the result)",
    run: () => turbo(["run", "generate"]),
  },
  db: {
    summary:
      "Database tools: migrate up|down|status, seed, audit, roles (MIGRATION_DATABASE_URL or DATABASE_URL); see './taskmaster db --help'",
    run: async (args) => {
      await build();
      await exec(process.execPath, [join(root, "tools/db/dist/db.js"), ...args]);
    },
  },
  bench: {
    summary:
      "Benchmarks: TaskService vs a bare grpc-js + raw pg floor in the same run; './taskmaster bench --help'; 'bench templates' for TemplateService; 'bench gateway' for gateway vs direct gRPC",
    run: async (args) => {
      await build();
      const [which, ...rest] =
        args[0] === "templates"
          ? ["template-bench.js", ...args.slice(1)]
          : args[0] === "gateway"
            ? ["gateway-bench.js", ...args.slice(1)]
            : ["bench.js", ...args];
      await exec(process.execPath, [join(root, "tools/bench/dist", which), ...rest]);
    },
  },
  example: {
    summary:
      "Run an SDK example from examples/ts against the running stack: 'example seed-usage [--gateway URL]' (env TASKMASTER_GATEWAY)",
    run: async (args) => {
      const [name, ...rest] = args;
      const file = join(root, "examples", "ts", `${name ?? ""}.ts`);
      if (!name || name.startsWith("-") || !existsSync(file)) {
        process.stdout.write("Usage: ./taskmaster example <name> [--gateway URL]\n\nExamples: seed-usage\n");
        if (name === "--help" || name === "-h") return;
        throw Object.assign(new Error(`unknown example '${name ?? ""}'`), { exitCode: 2 });
      }
      // Built once; later runs start straight away (Node 24 runs the TypeScript example as is).
      if (!existsSync(join(root, "libs/client/dist/index.js"))) await build();
      const at = rest.indexOf("--gateway");
      const gateway = at >= 0 ? rest[at + 1] : undefined;
      await exec(process.execPath, [file], {
        env: { ...process.env, ...(gateway ? { TASKMASTER_GATEWAY: gateway } : {}) },
      });
    },
  },
  tasks: {
    summary:
      "Tasks through the gateway: create|get|list|search|update|status|log-time|next|claim|release|watch ('tasks --help')",
    run: (args) => taskCli(["tasks", ...args]),
  },
  templates: {
    summary: "Templates through the gateway: create|list|render|create-task ('templates --help')",
    run: (args) => taskCli(["templates", ...args]),
  },
  health: { summary: "Health of the gateway and every service", run: (args) => taskCli(["health", ...args]) },
  status: { summary: "System status from the gateway (admin)", run: (args) => taskCli(["status", ...args]) },
  help: { summary: "Show this help", run: async () => help() },
};

/** The people's CLI (tools/task-cli, on the SDK): built once, then every call starts straight away. */
async function taskCli(args) {
  const main = join(root, "tools/task-cli/dist/main.js");
  if (!existsSync(main)) await build();
  await exec(process.execPath, [main, ...args]);
}

function help() {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  process.stdout.write(
    "Usage: ./taskmaster <command> [args]\n\nCommands:\n" +
      Object.entries(commands)
        .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
        .join("\n") +
      "\n\nEnvironment: DATABASE_URL (else embedded PostgreSQL), TASKMASTER_PROFILE (development|staging|production),\n" +
      "TEST_DATABASE_URL (tests use this server instead of embedded PostgreSQL).\n",
  );
}

function step(message) {
  process.stderr.write(`[taskmaster] ${message}\n`);
}

/** Adds the counts of a Vitest summary line ("Tests  12 passed | 1 skipped (13)") to `totals`. */
function countTests(line, totals) {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
  const plain = line.replace(/\x1b\[[0-9;]*m/g, "");
  const match = /^\S*\s+Tests\s+(.*)\(\d+\)\s*$/.exec(plain);
  if (!match) return;
  for (const [, n, kind] of match[1].matchAll(/(\d+) (passed|failed|skipped|todo)/g)) {
    if (kind in totals) totals[kind] += Number(n);
  }
}

function exec(cmd, args, options = {}, onLine) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: root,
      stdio: onLine ? ["inherit", "pipe", "inherit"] : "inherit",
      ...options,
    });
    if (onLine) {
      let buffered = "";
      child.stdout.on("data", (chunk) => {
        process.stdout.write(chunk);
        buffered += chunk.toString();
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) onLine(line);
      });
    }
    const forward = (signal) => child.kill(signal);
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      if (code === 0) resolve();
      else {
        const err = new Error(`${[cmd, ...args].join(" ")} exited with ${signal ?? code}`);
        err.exitCode = code ?? 1;
        reject(err);
      }
    });
  });
}

function turbo(args, logs = "new-only", onLine = undefined) {
  return exec(
    bin("turbo"),
    [...args, `--output-logs=${logs}`, "--log-order=grouped"],
    { env: { ...process.env, TURBO_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" } },
    onLine,
  );
}

async function build() {
  step("building (turbo caches unchanged packages)");
  await turbo(["run", "build"], "errors-only");
}

const [name = "help", ...rest] = process.argv.slice(2);
const command = commands[name === "--help" || name === "-h" ? "help" : name];
if (!command) {
  process.stderr.write(`unknown command '${name}'\n\n`);
  help();
  process.exit(2);
}
if (!existsSync(join(root, "node_modules"))) {
  step("dependencies are missing: run through ./taskmaster, which installs them");
  process.exit(1);
}
try {
  await command.run(rest);
} catch (error) {
  step(error.message);
  process.exit(error.exitCode ?? 1);
}
