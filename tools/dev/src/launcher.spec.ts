import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { descendants, eventually, runInTerminal, stillRunning } from "./processes.test-util.js";
import { grpcHealthCheck, httpHealthCheck } from "./readiness.js";

const hasPython = spawnSync("python3", ["-c", "import pty"]).status === 0;

const root = join(import.meta.dirname, "..", "..", "..");

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${pattern}; output:\n${seen}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve(seen);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`launcher exited with ${code} before ${pattern}; output:\n${seen}`));
    });
  });
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

async function stackEnv(): Promise<{ env: NodeJS.ProcessEnv; ports: Record<string, number> }> {
  const ports = {
    TASK_SERVICE_PORT: await freePort(),
    TEMPLATE_SERVICE_PORT: await freePort(),
    MONITORING_SERVICE_PORT: await freePort(),
    GATEWAY_PORT: await freePort(),
    TASKMASTER_PG_PORT: await freePort(),
  };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    // The test runs inside a build: `./taskmaster start` must not start another one.
    TASKMASTER_NO_BUILD: "1",
  };
  delete env.DATABASE_URL;
  return { env, ports };
}

const cli = join(root, "tools/cli/taskmaster.mjs");

// The path a new user takes: no DATABASE_URL, so the launcher brings embedded PostgreSQL up itself.
describe("./taskmaster start (launcher) on embedded PostgreSQL", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "tm-launcher-"));
  const started: ChildProcess[] = [];
  afterAll(() => {
    for (const child of started) if (child.exitCode === null) child.kill("SIGKILL");
    // As root the data may live elsewhere with a link here (embedded-access.ts): remove where it really is.
    const data = join(dataDir, "pg");
    if (existsSync(data)) rmSync(realpathSync(data), { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  // Before: Ctrl-C reached every process of the terminal's group; the launcher printed "SIGINT again: exiting
  // now", exited 130 and left the embedded PostgreSQL running; a killed service stopped the whole stack.
  it.skipIf(!hasPython)(
    "serves, restarts a member killed with -9, and one Ctrl-C in a real terminal stops everything (exit 0)",
    async () => {
      const { env, ports } = await stackEnv();
      const terminal = runInTerminal([process.execPath, cli, "start", "--data-dir", join(dataDir, "pg")], {
        cwd: root,
        env,
      });
      started.push(terminal.process);
      const output = await waitForOutput(terminal.process, /Taskmaster is up/, 120_000);
      expect(output).toContain(`127.0.0.1:${ports.TASK_SERVICE_PORT}`);
      // Migrations as the embedded superuser, the services as a taskmaster_app login (password never shown).
      expect(output).toMatch(/PostgreSQL \(services\)\s+postgres:\/\/taskmaster_service:\*\*\*@/);
      expect(output).toMatch(
        /granted taskmaster_app to taskmaster_service|already a member of taskmaster_app/,
      );

      const task = `127.0.0.1:${ports.TASK_SERVICE_PORT}`;
      expect(await grpcHealthCheck(task, "taskmaster.task.v1.TaskService", 2_000)).toBe(true);
      expect(await grpcHealthCheck(`127.0.0.1:${ports.TEMPLATE_SERVICE_PORT}`, "", 2_000)).toBe(true);
      expect(await grpcHealthCheck(`127.0.0.1:${ports.MONITORING_SERVICE_PORT}`, "", 2_000)).toBe(true);
      expect(await httpHealthCheck(`http://127.0.0.1:${ports.GATEWAY_PORT}/health`, 2_000)).toBe(true);

      // A task created through the gateway (Connect JSON) is listed back: gateway -> service -> PostgreSQL.
      const base = `http://127.0.0.1:${ports.GATEWAY_PORT}/taskmaster.task.v1.TaskService`;
      const created = await fetch(`${base}/CreateTask`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ task: { title: "Launcher smoke task", type: "TASK_TYPE_TASK" } }),
      });
      expect(created.status).toBe(200);
      const body = ((await created.json()) as { task: { name: string; title: string } }).task;
      expect(body.title).toBe("Launcher smoke task");
      const fetched = await fetch(`${base}/GetTask`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: body.name }),
      });
      expect(((await fetched.json()) as { task: { title: string } }).task.title).toBe("Launcher smoke task");

      // kill -9 of a member: the launcher restarts it on the same port and keeps everything else running.
      const pid = terminal.process.pid ?? 0;
      const taskPid = descendants(pid).find((p) => cmdline(p).includes("apps/task-service/dist/main.js"));
      expect(taskPid).toBeDefined();
      process.kill(taskPid as number, "SIGKILL");
      await waitForOutput(terminal.process, /TaskService restarted/, 60_000);
      expect(await eventually(() => grpcHealthCheck(task, "", 1_000), 30_000)).toBe(true);
      expect(await httpHealthCheck(`http://127.0.0.1:${ports.GATEWAY_PORT}/health`, 2_000)).toBe(true);

      const stack = descendants(pid);
      expect(stack.some((p) => cmdline(p).includes("bin/postgres"))).toBe(true);
      terminal.ctrlC();
      const end = await waitForOutput(terminal.process, /PTY-EXIT -?\d+/, 60_000);
      expect(end).not.toContain("again");
      expect(/PTY-EXIT (-?\d+)/.exec(end)?.[1]).toBe("0");
      expect(stillRunning(stack)).toEqual([]);
    },
    240_000,
  );

  // Before: SIGTERM to `./taskmaster start` left the three services running.
  it("SIGTERM to the ./taskmaster start process stops every member and PostgreSQL (exit 0)", async () => {
    const { env, ports } = await stackEnv();
    const wrapper = spawn(process.execPath, [cli, "start", "--data-dir", join(dataDir, "pg")], {
      cwd: root,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    started.push(wrapper);
    await waitForOutput(wrapper, /Taskmaster is up/, 120_000);
    const stack = descendants(wrapper.pid ?? 0);
    expect(stack.filter((p) => cmdline(p).includes("/dist/main.js")).length).toBe(4);
    const exited = new Promise<number | null>((resolve) => wrapper.once("exit", (code) => resolve(code)));
    wrapper.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stillRunning(stack)).toEqual([]);
    expect(await grpcHealthCheck(`127.0.0.1:${ports.TASK_SERVICE_PORT}`, "", 500)).toBe(false);
  }, 180_000);
});
