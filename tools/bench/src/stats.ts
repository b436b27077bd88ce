/** Latency statistics and the result table the benchmarks print. */

export interface Sample {
  /** Completed operations. */
  readonly ops: number;
  /** Failed operations (counted, not timed). */
  readonly errors: number;
  /** Wall time of the measured window, seconds. */
  readonly seconds: number;
  /** Per-operation latencies, microseconds. */
  readonly latenciesUs: Float64Array;
}

export interface Summary {
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

/** Nearest-rank percentile of an ascending-sorted array (p in 0..100). */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function summarize(sample: Sample): Summary {
  const sorted = Float64Array.from(sample.latenciesUs).sort();
  return {
    opsPerSec: sample.seconds > 0 ? sample.ops / sample.seconds : 0,
    p50Ms: percentile(sorted, 50) / 1000,
    p95Ms: percentile(sorted, 95) / 1000,
    p99Ms: percentile(sorted, 99) / 1000,
    errors: sample.errors,
  };
}

export interface Row {
  readonly operation: string;
  readonly subject: string;
  readonly summary: Summary;
  /** Ratio of ops/s to the floor of the same operation (1 for the floor itself). */
  readonly ratio: number | undefined;
  readonly target?: number | undefined;
  /** p95 latency target (ms), when the operation has one. */
  readonly p95TargetMs?: number | undefined;
}

function targetText(r: Row): string {
  const parts: string[] = [];
  if (r.target !== undefined) {
    parts.push(`ratio >= ${r.target}${r.ratio !== undefined && r.ratio < r.target ? " (missed)" : ""}`);
  }
  if (r.p95TargetMs !== undefined) {
    parts.push(`p95 < ${r.p95TargetMs} ms${r.summary.p95Ms >= r.p95TargetMs ? " (missed)" : ""}`);
  }
  return parts.join(", ");
}

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "-");

export function renderTable(rows: readonly Row[]): string {
  const header = ["operation", "server", "ops/s", "p50 ms", "p95 ms", "p99 ms", "errors", "ratio", "target"];
  const body = rows.map((r) => [
    r.operation,
    r.subject,
    fmt(r.summary.opsPerSec, 0),
    fmt(r.summary.p50Ms),
    fmt(r.summary.p95Ms),
    fmt(r.summary.p99Ms),
    String(r.summary.errors),
    r.ratio === undefined ? "" : fmt(r.ratio),
    targetText(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}
