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

describe("withRetry", () => {
  const fast = { attempts: 3, initialDelayMs: 1, factor: 2, maxDelayMs: 2 };
  it("retries retryable errors up to the attempts, then throws the last", async () => {
    let calls = 0;
    await expect(
      withRetry(
        fast,
        async () => {
          calls++;
          throw new Error("again");
        },
        () => true,
      ),
    ).rejects.toThrow("again");
    expect(calls).toBe(3);
  });

  it("never retries what is not retryable", async () => {
    let calls = 0;
    await expect(
      withRetry(
        fast,
        async () => {
          calls++;
          throw new Error("bug");
        },
        () => false,
      ),
    ).rejects.toThrow("bug");
    expect(calls).toBe(1);
  });

  it("starts no retry past the budget", async () => {
    let calls = 0;
    await expect(
      withRetry(
        { ...fast, initialDelayMs: 1_000, maxDelayMs: 1_000, budgetMs: 10 },
        async () => {
          calls++;
          throw new Error("slow");
        },
        () => true,
      ),
    ).rejects.toThrow("slow");
    expect(calls).toBe(1);
  });
});
