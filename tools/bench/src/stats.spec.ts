import { describe, expect, it } from "vitest";
import { percentile, renderTable, summarize } from "./stats.js";

describe("percentile (nearest rank)", () => {
  const sorted = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  it("picks the nearest-rank element", () => {
    expect(percentile(sorted, 50)).toBe(5);
    expect(percentile(sorted, 95)).toBe(10);
    expect(percentile(sorted, 10)).toBe(1);
    expect(percentile(sorted, 0)).toBe(1);
  });
  it("is NaN for no samples", () => {
    expect(percentile(new Float64Array(), 50)).toBeNaN();
  });
});

describe("summarize", () => {
  it("turns a sample into ops/s and millisecond percentiles", () => {
    const s = summarize({
      ops: 200,
      errors: 1,
      seconds: 2,
      latenciesUs: Float64Array.from([3000, 1000, 2000, 4000]),
    });
    expect(s.opsPerSec).toBe(100);
    expect(s.p50Ms).toBe(2);
    expect(s.p99Ms).toBe(4);
    expect(s.errors).toBe(1);
  });
});

describe("renderTable", () => {
  it("marks a missed target", () => {
    const summary = { opsPerSec: 500, p50Ms: 1, p95Ms: 2, p99Ms: 3, errors: 0 };
    const text = renderTable([
      { operation: "GetTask", subject: "service", summary, ratio: 0.5, target: 0.7 },
    ]);
    expect(text).toContain("ratio >= 0.7 (missed)");
    expect(text.split("\n")).toHaveLength(3);
  });

  it("checks a p95 target", () => {
    const summary = { opsPerSec: 500, p50Ms: 1, p95Ms: 25, p99Ms: 30, errors: 0 };
    const row = { operation: "SearchTasks", subject: "service", summary, ratio: 0.9, p95TargetMs: 20 };
    expect(renderTable([row])).toContain("p95 < 20 ms (missed)");
    expect(renderTable([{ ...row, summary: { ...summary, p95Ms: 12 } }])).not.toContain("missed");
  });
});
