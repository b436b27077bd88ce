/**
 * Stopping with telemetry on and the collector gone: the built gateway (`dist/main.js`, started through
 * `--import @taskmaster/telemetry/register` as the launcher does) exports to an OTLP port that refuses
 * connections. SIGINT must stop it cleanly: every shutdown step done, exit 0, no step timing out on the
 * collector. Before: the telemetry step waited on the exporter's retries until its bound and the process exited 1.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..", "..");

/** A free port: bound, then closed (connections to it are refused until someone listens). */
function refusingPort(): Promise<number> {
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

function waitForLine(child: ChildProcess, pattern: RegExp, seen: { text: string }, timeoutMs: number) {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${seen.text}`)),
      timeoutMs,
    );
    const check = () => {
      if (pattern.test(seen.text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", check);
    check();
  });
}

describe("gateway shutdown with the OTLP collector gone", () => {
  it("serves, then stops on SIGINT with every step done and exit 0", async () => {
    const collector = await refusingPort();
    const gone = await refusingPort();
    const port = await refusingPort();
    const child = spawn(
      process.execPath,
      [
        `--import=${pathToFileURL(join(root, "libs/telemetry/dist/register.js")).href}`,
        join(root, "apps/gateway/dist/main.js"),
      ],
      {
        cwd: root,
        env: {
          PATH: process.env.PATH ?? "",
          LOG_LEVEL: "info",
          GATEWAY_PORT: String(port),
          METRICS_PORT: "0",
          GATEWAY_AUTH: "none",
          TASKMASTER_PROFILE: "development",
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector}`,
          // Export often, so that exports to the missing collector are under way when the signal comes.
          OTEL_BSP_SCHEDULE_DELAY: "100",
          OTEL_METRIC_EXPORT_INTERVAL: "200",
          TASK_SERVICE_ADDRESS: `127.0.0.1:${gone}`,
          TEMPLATE_SERVICE_ADDRESS: `127.0.0.1:${gone}`,
          MONITORING_SERVICE_ADDRESS: `127.0.0.1:${gone}`,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const seen = { text: "" };
    child.stdout?.on("data", (c: Buffer) => {
      seen.text += c.toString();
    });
    child.stderr?.on("data", (c: Buffer) => {
      seen.text += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await waitForLine(child, /gateway listening/, seen, 60_000);
      // Serving is not blocked by the collector: a request (traced, so a span goes to the exporter) answers.
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      expect(res.status).toBe(503);
      child.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(seen.text).not.toMatch(/timed out/);
      expect(seen.text).toMatch(/"step":"telemetry","msg":"shutdown step done"/);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 60_000);
});
