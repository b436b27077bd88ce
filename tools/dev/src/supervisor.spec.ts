import { describe, expect, it } from "vitest";
import { defaultRestartPolicy, restartDecision } from "./supervisor.js";

describe("restart policy (0.5 s doubling to 8 s, give up after 5 failures within 60 s)", () => {
  it("doubles the delay per failure within the window and gives up at the fifth", () => {
    let failures: number[] = [];
    const delays: number[] = [];
    let giveUp = false;
    for (let i = 0; i < 5; i++) {
      const d = restartDecision(failures, 1_000 * i);
      failures = d.failures;
      delays.push(d.delayMs);
      giveUp = d.giveUp;
    }
    expect(delays.slice(0, 4)).toEqual([500, 1_000, 2_000, 4_000]);
    expect(giveUp).toBe(true);
  });

  it("forgets failures older than the window and caps the delay at 8 s", () => {
    const old = [0, 1, 2, 3];
    const later = restartDecision(old, defaultRestartPolicy.windowMs + 10);
    expect(later).toEqual({ failures: [defaultRestartPolicy.windowMs + 10], giveUp: false, delayMs: 500 });
    const capped = restartDecision([1, 2, 3], 4, { ...defaultRestartPolicy, maxFailures: 10 });
    expect(capped.delayMs).toBe(4_000);
    const more = restartDecision([1, 2, 3, 4, 5], 6, { ...defaultRestartPolicy, maxFailures: 10 });
    expect(more.delayMs).toBe(8_000);
  });
});
