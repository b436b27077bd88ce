import { describe, expect, it } from "vitest";
import { backoffDelayMs, withRetry } from "./db-retry.js";

const policy = { attempts: 5, initialDelayMs: 100, factor: 2, maxDelayMs: 1_000 };

describe("backoffDelayMs", () => {
  it("grows exponentially, is capped, and jitters within [half, whole]", () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(policy, n, () => 1))).toEqual([
      100, 200, 400, 800, 1000,
    ]);
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(policy, n, () => 0))).toEqual([50, 100, 200, 400, 500]);
  });
});

/** An operation that always throws `message`, counting its calls. */
function alwaysFailing(message: string) {
  const op = {
    calls: 0,
    run: async (): Promise<never> => {
      op.calls++;
      throw new Error(message);
    },
  };
  return op;
}

describe("withRetry", () => {
  const fast = { attempts: 3, initialDelayMs: 1, factor: 2, maxDelayMs: 2 };
  it("retries retryable errors up to the attempts, then throws the last", async () => {
    const op = alwaysFailing("again");
    await expect(withRetry(fast, op.run, () => true)).rejects.toThrow("again");
    expect(op.calls).toBe(3);
  });

  it("never retries what is not retryable", async () => {
    const op = alwaysFailing("bug");
    await expect(withRetry(fast, op.run, () => false)).rejects.toThrow("bug");
    expect(op.calls).toBe(1);
  });

  it("starts no retry past the budget", async () => {
    const op = alwaysFailing("slow");
    await expect(
      withRetry({ ...fast, initialDelayMs: 1_000, maxDelayMs: 1_000, budgetMs: 10 }, op.run, () => true),
    ).rejects.toThrow("slow");
    expect(op.calls).toBe(1);
  });
});
