/**
 * Reads the other processes' figures from their Prometheus `/metrics` (the addresses come from libs/config
 * service-metrics.ts): database pools (`db_pool_connections{pool,state}`, `db_pool_max_connections`,
 * `db_pool_min_connections`, `db_pool_acquire_timeouts`, the `db_pool_acquire_wait_seconds` histogram) and
 * RPC counts (`rpc_server_requests_total{service,method,code}`). GetPoolStats and the POOL_SATURATION /
 * ERROR_RATE alerts use it so they watch every process, not only the monitoring service's own.
 * A process that does not answer within the timeout (or answers garbage) is reported as unreachable.
 */
import type { PoolSnapshot } from "@taskmaster/persistence/monitoring-pool";

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface RpcCount {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ServiceFigures {
  readonly service: string;
  readonly instance: string;
  readonly pools: PoolSnapshot[];
  readonly rpc: RpcCount[];
}

export type ServiceMetricsResult =
  | ({ readonly ok: true } & ServiceFigures)
  | { readonly ok: false; readonly service: string; readonly error: string };

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Samples of a Prometheus text exposition (comments skipped; throws on a malformed sample line). */
export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample: ${line.slice(0, 100)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) {
      labels[l[1] as string] = (l[2] as string).replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
    }
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** Pools and RPC counts of one process from its samples. */
export function figuresFromSamples(
  service: string,
  instance: string,
  samples: Sample[],
  at: Date,
): ServiceFigures {
  const pools = new Map<string, { [k: string]: number }>();
  const buckets = new Map<string, { le: number; count: number }[]>();
  const pool = (name: string) => {
    let p = pools.get(name);
    if (p === undefined) {
      p = {};
      pools.set(name, p);
    }
    return p;
  };
  const rpc: RpcCount[] = [];
  for (const s of samples) {
    const name = s.labels.pool ?? "default";
    switch (s.name) {
      case "db_pool_connections":
        pool(name)[s.labels.state ?? ""] = s.value;
        break;
      case "db_pool_max_connections":
        pool(name).max = s.value;
        break;
      case "db_pool_min_connections":
        pool(name).min = s.value;
        break;
      case "db_pool_acquire_timeouts":
        pool(name).timeouts = s.value;
        break;
      case "db_pool_acquire_wait_seconds_count":
        pool(name).count = s.value;
        break;
      case "db_pool_acquire_wait_seconds_sum":
        pool(name).sum = s.value;
        break;
      case "db_pool_acquire_wait_seconds_bucket": {
        const list = buckets.get(name) ?? [];
        list.push({
          le: s.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.labels.le),
          count: s.value,
        });
        buckets.set(name, list);
        break;
      }
      case "rpc_server_requests_total":
        rpc.push({ labels: s.labels, value: s.value });
        break;
    }
  }
  const snapshots: PoolSnapshot[] = [];
  for (const [name, p] of pools) {
    if (p.max === undefined) continue; // a histogram without a sampled pool is not a pool of this process
    const count = p.count ?? 0;
    const sorted = (buckets.get(name) ?? []).sort((a, b) => a.le - b.le);
    // p95 from the cumulative histogram (since start): the smallest bucket bound holding 95% of acquires.
    const p95 = count === 0 ? 0 : (sorted.find((b) => b.count >= count * 0.95)?.le ?? 0);
    const inUse = p.in_use ?? 0;
    const idle = p.idle ?? 0;
    snapshots.push({
      pool: name,
      min: p.min ?? 0,
      max: p.max,
      total: inUse + idle,
      idle,
      inUse,
      waiting: p.waiting ?? 0,
      acquireCount: count,
      acquireTimeoutCount: p.timeouts ?? 0,
      meanAcquireWaitMs: count === 0 ? 0 : ((p.sum ?? 0) / count) * 1000,
      p95AcquireWaitMs: Number.isFinite(p95) ? p95 * 1000 : 0,
      sampleTime: at,
    });
  }
  return { service, instance, pools: snapshots, rpc };
}

/** Reads every process's `/metrics` in parallel, each bounded by `timeoutMs`. */
export function createServiceMetricsReader(
  urls: Readonly<Record<string, string>>,
  timeoutMs = 2_000,
): (services?: readonly string[]) => Promise<ServiceMetricsResult[]> {
  return (services = Object.keys(urls)) =>
    Promise.all(
      services.map(async (service): Promise<ServiceMetricsResult> => {
        const url = urls[service];
        if (url === undefined) return { ok: false, service, error: "no metrics address configured" };
        try {
          const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
          if (!res.ok) return { ok: false, service, error: `HTTP ${res.status}` };
          const text = await res.text();
          return {
            ok: true,
            ...figuresFromSamples(service, new URL(url).host, parseSamples(text), new Date()),
          };
        } catch (err) {
          return { ok: false, service, error: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
}
