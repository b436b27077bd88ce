import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { grpcHealthCheck, httpHealthCheck, waitUntil } from "./readiness.js";
import type { StackMember } from "./stack.js";

export interface Member {
  spec: StackMember;
  child: ChildProcess;
  address: string;
}

export interface StartOptions {
  root: string;
  host: string;
  port: number;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  onExit: (code: number | string) => void;
  /** Where the member's output lines go (default: stdout, prefixed with its short name). */
  output?: (line: string) => void;
}

const readyTimeoutMs = 30_000;

/** Spawns one member, prefixes its output with its short name and waits until it reports healthy. */
export async function startMember(spec: StackMember, options: StartOptions): Promise<Member> {
  const short = spec.name.split(".").at(-1) ?? spec.name;
  // OpenTelemetry starts before application code (off in development unless OTEL_EXPORTER_OTLP_ENDPOINT is set).
  const telemetry = join(options.root, "libs", "telemetry", "dist", "register.js");
  const args = [
    "--enable-source-maps",
    `--import=${pathToFileURL(telemetry).href}`,
    join(options.root, spec.entry),
  ];
  const child = spawn(process.execPath, args, {
    cwd: options.root,
    env: {
      ...options.env,
      GRPC_HOST: options.host,
      GRPC_PORT: String(options.port),
      [spec.portEnv]: String(options.port),
      // Each service's own HTTP /health,/status (gRPC port + 10000) and /metrics (+ 11000): several
      // processes share this machine and the gateway already owns 8080. Port 0 (tests) -> any free port.
      HEALTH_PORT: String(options.port === 0 ? 0 : options.port + 10_000),
      METRICS_PORT: String(options.port === 0 ? 0 : options.port + 11_000),
    },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group: a Ctrl-C in the terminal reaches the launcher only, which stops members in order.
    detached: true,
  });
  for (const stream of [child.stdout, child.stderr]) {
    if (stream)
      createInterface({ input: stream }).on("line", (line) =>
        options.output ? options.output(`${short} | ${line}`) : process.stdout.write(`${short} | ${line}\n`),
      );
  }
  let exited = false;
  child.on("exit", (code, signal) => {
    exited = true;
    options.onExit(signal ?? code ?? "unknown");
  });

  const address = `${options.host}:${options.port}`;
  const probe =
    spec.readiness === "grpc-health"
      ? () => grpcHealthCheck(address, spec.name, 1_000)
      : () => httpHealthCheck(`http://${address}/health`, 1_000);
  const ready = await waitUntil(async () => !exited && (await probe()), readyTimeoutMs, options.signal);
  if (!ready) {
    killGroup(child, "SIGKILL");
    throw new Error(`${spec.name} did not become healthy on ${address} within ${readyTimeoutMs / 1000}s`);
  }
  return {
    spec,
    child,
    address: spec.readiness === "http-health" ? `http://${address}` : `grpc://${address}`,
  };
}

/** SIGTERM to the member's process group, then SIGKILL after `graceMs` if it is still running. */
export async function stopMember(member: Member, graceMs: number): Promise<void> {
  const { child } = member;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  killGroup(child, "SIGTERM");
  const timer = setTimeout(() => killGroup(child, "SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}
