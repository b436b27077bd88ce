/**
 * Recent RPC rate and mean latency at the gateway, for the chart on the `/status` page: the process's
 * `rpc_server_requests_total` and `rpc_server_duration_seconds` read every `intervalMs` into a ring of
 * `points` samples (rate = calls per second since the previous sample, latency = mean of those calls).
 */
import type { ProcessMetrics } from "@taskmaster/telemetry/metrics";

export interface RpcPoint {
  /** Sample time, epoch ms. */
  readonly at: number;
  /** Calls per second since the previous sample. */
  readonly ratePerSecond: number;
  /** Mean handling time of those calls, ms (0 without calls). */
  readonly meanLatencyMs: number;
}

export interface RpcHistory {
  /** The samples, oldest first. */
  points(): readonly RpcPoint[];
  /** Take one sample now (also done by the timer). */
  sample(): Promise<void>;
  close(): void;
}

interface Totals {
  at: number;
  calls: number;
  seconds: number;
}

async function totals(metrics: ProcessMetrics, now: number): Promise<Totals> {
  const durations = (await metrics.rpcDuration.get()).values;
  let calls = 0;
  let seconds = 0;
  for (const v of durations) {
    if (v.metricName === "rpc_server_duration_seconds_count") calls += v.value;
    else if (v.metricName === "rpc_server_duration_seconds_sum") seconds += v.value;
  }
  return { at: now, calls, seconds };
}

export function createRpcHistory(o: {
  metrics: ProcessMetrics;
  intervalMs?: number | undefined;
  points?: number | undefined;
  now?: () => number;
}): RpcHistory {
  const capacity = o.points ?? 60;
  const now = o.now ?? Date.now;
  const ring: RpcPoint[] = [];
  let previous: Totals | undefined;
  let pending: Promise<void> = Promise.resolve();

  const sample = () => {
    pending = pending.then(async () => {
      const current = await totals(o.metrics, now());
      if (previous !== undefined && current.at > previous.at) {
        const calls = current.calls - previous.calls;
        ring.push({
          at: current.at,
          ratePerSecond: (calls * 1000) / (current.at - previous.at),
          meanLatencyMs: calls > 0 ? ((current.seconds - previous.seconds) * 1000) / calls : 0,
        });
        if (ring.length > capacity) ring.shift();
      }
      previous = current;
    });
    return pending;
  };
  void sample();
  const timer = setInterval(() => void sample(), o.intervalMs ?? 10_000);
  timer.unref();
  return { points: () => [...ring], sample, close: () => clearInterval(timer) };
}
