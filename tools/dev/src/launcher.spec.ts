import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { grpcHealthCheck, httpHealthCheck } from "./readiness.js";

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

// The path a new user takes: no DATABASE_URL, so the launcher brings embedded PostgreSQL up itself.
describe("./taskmaster start (launcher) on embedded PostgreSQL", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "tm-launcher-"));
  let launcher: ChildProcess | undefined;
  afterAll(() => {
    if (launcher && launcher.exitCode === null) launcher.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("starts every service and the gateway, serves requests, and stops cleanly on SIGINT", async () => {
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
    };
    delete env.DATABASE_URL;
    launcher = spawn(
      process.execPath,
      [join(root, "tools/dev/dist/launcher.js"), "--data-dir", join(dataDir, "pg")],
      {
        cwd: root,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const output = await waitForOutput(launcher, /Taskmaster is up/, 120_000);
    expect(output).toContain(`127.0.0.1:${ports.TASK_SERVICE_PORT}`);
    // Migrations as the embedded superuser, the services as a taskmaster_app login (password never shown).
    expect(output).toMatch(/PostgreSQL \(services\)\s+postgres:\/\/taskmaster_service:\*\*\*@/);
    expect(output).toMatch(/granted taskmaster_app to taskmaster_service|already a member of taskmaster_app/);

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

    const exited = new Promise<number | null>((resolve) => launcher?.once("exit", (code) => resolve(code)));
    launcher.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(await grpcHealthCheck(task, "", 500)).toBe(false);
  }, 180_000);
});
