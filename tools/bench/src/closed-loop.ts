/**
 * The closed loop both load clients share: `concurrency` callers each start the next call as soon as the
 * previous one answered, for a fixed time after a warm-up. Only calls started after the warm-up count; failed
 * calls are counted, not timed.
 */
import type { Sample } from "./stats.js";

export interface LoopTiming {
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/** Runs `call` (resolves true on success) in a closed loop and returns what the measured window saw. */
export async function runClosedLoop(timing: LoopTiming, call: () => Promise<boolean>): Promise<Sample> {
  const capacity = 2_000_000;
  const latencies = new Float64Array(capacity);
  let ops = 0;
  let errors = 0;
  let measuring = false;
  const warmupEnd = Date.now() + timing.warmupMs;
  const end = warmupEnd + timing.durationMs;
  let measuredStart = 0n;

  const worker = async () => {
    for (;;) {
      const now = Date.now();
      if (now >= end) return;
      if (!measuring && now >= warmupEnd) {
        measuring = true;
        measuredStart = process.hrtime.bigint();
      }
      const counted = measuring;
      const t0 = process.hrtime.bigint();
      const ok = await call();
      if (!counted) continue;
      if (!ok) {
        errors++;
        continue;
      }
      if (ops < capacity) latencies[ops] = Number(process.hrtime.bigint() - t0) / 1000;
      ops++;
    }
  };
  await Promise.all(Array.from({ length: timing.concurrency }, worker));
  const seconds = measuring ? Number(process.hrtime.bigint() - measuredStart) / 1e9 : 0;
  return { ops, errors, seconds, latenciesUs: latencies.subarray(0, Math.min(ops, capacity)) };
}
