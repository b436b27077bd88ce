/** The RPC history the `/status` chart draws: rate and mean latency between samples of the real registry. */
import { createProcessMetrics } from "@taskmaster/telemetry/metrics";
import { expect, it } from "vitest";
import { createRpcHistory } from "./rpc-history.js";

it("turns the rpc_server_duration_seconds totals into calls per second and mean latency per interval", async () => {
  const metrics = createProcessMetrics({ defaultMetrics: false });
  let now = 1_000_000;
  const history = createRpcHistory({ metrics, intervalMs: 3_600_000, points: 2, now: () => now });
  try {
    await history.sample(); // same instant as the first sample: no point yet
    expect(history.points()).toEqual([]);
    const labels = { service: "s", method: "m", code: "OK" };
    for (const seconds of [0.01, 0.03, 0.02, 0.04]) metrics.rpcDuration.observe(labels, seconds);
    now += 2_000;
    await history.sample();
    expect(history.points()).toHaveLength(1);
    expect(history.points()[0]?.ratePerSecond).toBe(2);
    expect(history.points()[0]?.meanLatencyMs).toBeCloseTo(25, 6);
    now += 1_000;
    await history.sample();
    expect(history.points()[1]).toMatchObject({ ratePerSecond: 0, meanLatencyMs: 0 });
    now += 1_000;
    await history.sample();
    expect(history.points()).toHaveLength(2); // the ring keeps `points` samples
  } finally {
    history.close();
  }
});
