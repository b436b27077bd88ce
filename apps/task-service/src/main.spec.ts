import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestDatabase, TEST_APP_USER } from "@taskmaster/testing/test-database";
import { describe, expect, it } from "vitest";

const entry = join(import.meta.dirname, "..", "dist", "main.js");

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built service entry point with `env` and resolves when it exits on its own. */
function runMain(env: Record<string, string>): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry], {
      env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "silent", HEALTH_PORT: "0", METRICS_PORT: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

function expectOneClearLine(outcome: Outcome, mentions: RegExp): void {
  expect(outcome.code).not.toBe(0);
  const lines = outcome.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(mentions);
  expect(outcome.stderr).not.toMatch(/\n\s+at /);
}

async function occupiedPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const reachable = process.env.TEST_DATABASE_URL;

describe("task-service start-up with bad configuration: one clear line, non-zero exit", () => {
  it("names a malformed DATABASE_URL", async () => {
    expectOneClearLine(await runMain({ DATABASE_URL: "not a url", GRPC_PORT: "0" }), /DATABASE_URL/);
  });

  it("names an unknown profile", async () => {
    expectOneClearLine(
      await runMain({ TASKMASTER_PROFILE: "prod", GRPC_PORT: "0" }),
      /TASKMASTER_PROFILE.*prod/,
    );
  });

  it("names a port out of range", async () => {
    expectOneClearLine(await runMain({ GRPC_PORT: "70000" }), /GRPC_PORT/);
  });

  it("says the database is unreachable", async () => {
    const { port, close } = await occupiedPort();
    await close(); // nothing listens there now
    expectOneClearLine(
      await runMain({
        DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/taskmaster`,
        GRPC_PORT: "0",
        DB_RETRY_ATTEMPTS: "1",
      }),
      /ECONNREFUSED|connect|unreachable|refused/i,
    );
  });

  it.runIf(reachable)("says the port is in use", async () => {
    const { port, close } = await occupiedPort();
    try {
      expectOneClearLine(
        await runMain({ DATABASE_URL: reachable as string, GRPC_PORT: String(port) }),
        /address already in use/,
      );
    } finally {
      await close();
    }
  });
});

describe("task-service start-up checks its database role (least privilege, issue 8)", () => {
  it("production refuses a superuser in one line and starts as the taskmaster_app login", async () => {
    const db = await createTestDatabase();
    const dir = mkdtempSync(join(tmpdir(), "tm-main-role-"));
    try {
      const publicKey = join(dir, "identity.pub");
      writeFileSync(
        publicKey,
        generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }).toString(),
      );
      const production = {
        TASKMASTER_PROFILE: "production",
        DB_SSL_MODE: "disable",
        TASKMASTER_IDENTITY_PUBLIC_KEY_FILE: publicKey,
        OTEL_SDK_DISABLED: "true",
        GRPC_PORT: "0",
      };
      expectOneClearLine(
        await runMain({ ...production, DATABASE_URL: db.url }),
        /^task-service: refusing to start in the production profile: database user "[^"]+" is a superuser; /,
      );
      // The application login passes the check: the service comes up (then is stopped).
      const child = spawn(process.execPath, [entry], {
        env: {
          PATH: process.env.PATH ?? "",
          HEALTH_PORT: "0",
          METRICS_PORT: "0",
          ...production,
          DATABASE_URL: db.appUrl,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      const listening = await new Promise<boolean>((resolve) => {
        child.stdout.on("data", (c: Buffer) => {
          out += c.toString();
          if (out.includes("gRPC server listening")) resolve(true);
        });
        child.stderr.on("data", (c: Buffer) => {
          out += c.toString();
        });
        child.on("exit", () => resolve(false));
      });
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
      expect(listening, out).toBe(true);
      expect(out).toContain(`"databaseUser":"${TEST_APP_USER}"`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await db.drop();
    }
  }, 60_000);
});
