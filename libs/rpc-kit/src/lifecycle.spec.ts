import { ConfigError } from "@taskmaster/config/config";
import { describe, expect, it } from "vitest";
import { ListenError } from "./grpc-server.js";
import { formatStartupError, runService } from "./lifecycle.js";

function harness() {
  const exits: number[] = [];
  const errors: string[] = [];
  return {
    exits,
    errors,
    exit: (c: number) => void exits.push(c),
    printError: (l: string) => void errors.push(l),
  };
}

// Unique signal names are not possible, so the tests emit real signal events on `process` (no actual kill).
describe("runService", () => {
  it("runs shutdown steps in order on SIGTERM and exits 0", async () => {
    const h = harness();
    const order: string[] = [];
    let ready!: () => void;
    const isReady = new Promise<void>((r) => {
      ready = r;
    });
    const svc = runService({
      name: "svc",
      exit: h.exit,
      printError: h.printError,
      start: async () => {
        ready();
        return {
          steps: [
            { name: "grpc", run: async () => void order.push("grpc") },
            { name: "orm", run: () => void order.push("orm") },
            { name: "telemetry", run: async () => void order.push("telemetry") },
          ],
        };
      },
    });
    await isReady;
    await new Promise((r) => setImmediate(r));
    process.emit("SIGTERM", "SIGTERM");
    expect(await svc.exited).toBe(0);
    expect(order).toEqual(["grpc", "orm", "telemetry"]);
    expect(h.exits).toEqual([0]);
  });

  it("SIGINT works too; a failing step still runs the rest and exits 1; a second signal forces exit", async () => {
    const h = harness();
    const order: string[] = [];
    let release!: () => void;
    const svc = runService({
      name: "svc",
      exit: h.exit,
      printError: h.printError,
      start: async () => ({
        steps: [
          {
            name: "grpc",
            run: () =>
              new Promise<void>((r) => {
                release = r;
                order.push("grpc");
              }),
          },
          {
            name: "orm",
            run: () => {
              throw new Error("boom");
            },
          },
          { name: "telemetry", run: () => void order.push("telemetry") },
        ],
      }),
    });
    await new Promise((r) => setTimeout(r, 10));
    process.emit("SIGINT", "SIGINT");
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual(["grpc"]);
    process.emit("SIGINT", "SIGINT");
    expect(await svc.exited).toBe(1);
    expect(h.exits).toEqual([1]);
    release();
  });

  it("startup failure prints one line and exits 1", async () => {
    const h = harness();
    const svc = runService({
      name: "task-service",
      exit: h.exit,
      printError: h.printError,
      start: async () => {
        throw new ConfigError([{ variable: "DATABASE_URL", message: "is not a valid URL" }]);
      },
    });
    expect(await svc.exited).toBe(1);
    expect(h.errors).toEqual(["task-service: invalid configuration: DATABASE_URL is not a valid URL"]);
  });
});

describe("formatStartupError", () => {
  it("names the problem in one line", () => {
    expect(
      formatStartupError(
        new ListenError("cannot listen on 0.0.0.0:1: address already in use", "EADDRINUSE", "x"),
      ),
    ).toBe("cannot listen on 0.0.0.0:1: address already in use");
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), {
      code: "ECONNREFUSED",
      address: "127.0.0.1",
      port: 5432,
    });
    expect(formatStartupError(new AggregateError([refused], ""))).toBe(
      "database unreachable 127.0.0.1:5432 (ECONNREFUSED)",
    );
    expect(formatStartupError(Object.assign(new Error("x"), { cause: refused }))).toBe(
      "database unreachable 127.0.0.1:5432 (ECONNREFUSED)",
    );
    expect(formatStartupError(new Error("multi\nline\n  at x"))).toBe("multi");
  });
});
