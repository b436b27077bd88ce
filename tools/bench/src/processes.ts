/** Child processes the benchmark measures: the floor server and the real task service. */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

export interface Child {
  readonly process: ChildProcess;
  readonly address: string;
  stop(): Promise<void>;
}

/** SIGTERM, then SIGKILL after `killAfterMs`; resolves once the child exited. */
export function stopper(child: ChildProcess, killAfterMs = 10_000): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), killAfterMs).unref();
    });
}

/** Starts the floor server and resolves once it printed its port. */
export function startFloor(entry: string, databaseUrl: string, poolMax: number): Promise<Child> {
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: "0", POOL_MAX: String(poolMax) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`floor server exited (${code})`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      const port = /^listening (\d+)$/.exec(line)?.[1];
      if (port) resolve({ process: child, address: `127.0.0.1:${port}`, stop: stopper(child) });
    });
  });
}

/** Starts the task service on `port` with the same pool size as the floor. */
export function startService(
  entry: string,
  databaseUrl: string,
  port: number,
  poolMax: number,
  extra: { readonly nodeArgs?: readonly string[]; readonly env?: Record<string, string> } = {},
): Child {
  const child = spawn(process.execPath, [...(extra.nodeArgs ?? []), entry], {
    env: {
      ...process.env,
      ...extra.env,
      DATABASE_URL: databaseUrl,
      GRPC_HOST: "127.0.0.1",
      GRPC_PORT: String(port),
      TASKMASTER_PROFILE: "development",
      DB_POOL_MIN: String(Math.min(2, poolMax)),
      DB_POOL_MAX: String(poolMax),
      LOG_LEVEL: "warn",
      HEALTH_PORT: "0",
      METRICS_PORT: "0",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  return { process: child, address: `127.0.0.1:${port}`, stop: stopper(child) };
}
