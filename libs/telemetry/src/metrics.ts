/**
 * Prometheus metrics of one process (prom-client). One registry per process, created on first use, with
 * Node's process metrics, RPC counters/histograms, database query histogram and pool gauges. Exposed as
 * text by the per-process `/metrics` endpoint (rpc-kit http-endpoints).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export { Registry };

/** Pool figures sampled at scrape time. */
export interface PoolSample {
  readonly pool: string;
  readonly total: number;
  readonly idle: number;
  readonly inUse: number;
  readonly waiting: number;
  readonly max: number;
  /** Configured minimum size (exposed as `db_pool_min_connections`). */
  readonly min?: number;
  /** Acquires that timed out since start (exposed as `db_pool_acquire_timeouts`). */
  readonly acquireTimeouts?: number;
}

export interface ProcessMetrics {
  readonly registry: Registry;
  /** `rpc_server_requests_total{service,method,code}`. */
  readonly rpcRequests: Counter<"service" | "method" | "code">;
  /** `rpc_server_duration_seconds{service,method,code}`. */
  readonly rpcDuration: Histogram<"service" | "method" | "code">;
  /** `db_query_duration_seconds{operation}`. */
  readonly dbQueryDuration: Histogram<"operation">;
  /** `db_pool_acquire_wait_seconds{pool}`. */
  readonly dbPoolAcquireWait: Histogram<"pool">;
  /** `security_events_total{kind,reason}`: security events this process detected (e.g. suspicious input). */
  readonly securityEvents: Counter<"kind" | "reason">;
  /** `audit_rows_sealed_total`: audit rows chained by the scheduled `audit_seal`. */
  readonly auditRowsSealed: Counter;
  /** `audit_partitions_dropped_total`: expired audit partitions (and default-partition ranges) removed. */
  readonly auditPartitionsDropped: Counter;
  /** `audit_rows_removed_total`: audit rows removed by retention. */
  readonly auditRowsRemoved: Counter;
  /** `audit_job_failures_total{job}`: scheduled audit maintenance runs that failed (`seal`, `retention`). */
  readonly auditJobFailures: Counter<"job">;
  /** Register a pool sampler read at every scrape (`db_pool_connections{pool,state}`, `db_pool_max`). */
  addPoolSampler(sampler: () => readonly PoolSample[]): () => void;
}

const RPC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * A fresh, self-contained metrics set. A process creates one in its composition root (runDatabaseService,
 * the gateway's main.ts) and passes it to its server, /metrics endpoint and jobs; tests create their own.
 */
export function createProcessMetrics(options: { defaultMetrics?: boolean } = {}): ProcessMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const samplers = new Set<() => readonly PoolSample[]>();
  const sample = () => [...samplers].flatMap((s) => s());
  const rpcRequests = new Counter({
    name: "rpc_server_requests_total",
    help: "RPCs handled, by service, method and gRPC status code.",
    labelNames: ["service", "method", "code"] as const,
    registers: [registry],
  });
  const rpcDuration = new Histogram({
    name: "rpc_server_duration_seconds",
    help: "RPC handling time in seconds, by service, method and gRPC status code.",
    labelNames: ["service", "method", "code"] as const,
    buckets: RPC_BUCKETS,
    registers: [registry],
  });
  const dbQueryDuration = new Histogram({
    name: "db_query_duration_seconds",
    help: "Database query time in seconds (monitoring probes), by operation.",
    labelNames: ["operation"] as const,
    buckets: RPC_BUCKETS,
    registers: [registry],
  });
  const dbPoolAcquireWait = new Histogram({
    name: "db_pool_acquire_wait_seconds",
    help: "Time spent waiting for a pooled database connection, in seconds.",
    labelNames: ["pool"] as const,
    buckets: RPC_BUCKETS,
    registers: [registry],
  });
  const securityEvents = new Counter({
    name: "security_events_total",
    help: "Security events detected by this process, by kind and reason.",
    labelNames: ["kind", "reason"] as const,
    registers: [registry],
  });
  const auditRowsSealed = new Counter({
    name: "audit_rows_sealed_total",
    help: "Audit rows chained into the hash chain by the scheduled seal.",
    registers: [registry],
  });
  const auditPartitionsDropped = new Counter({
    name: "audit_partitions_dropped_total",
    help: "Expired audit partitions (and default-partition ranges) removed by retention.",
    registers: [registry],
  });
  const auditRowsRemoved = new Counter({
    name: "audit_rows_removed_total",
    help: "Audit rows removed by retention.",
    registers: [registry],
  });
  const auditJobFailures = new Counter({
    name: "audit_job_failures_total",
    help: "Scheduled audit maintenance runs that failed, by job (seal, retention).",
    labelNames: ["job"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "db_pool_connections",
    help: "Pooled database connections by state (idle, in_use, waiting = queued acquirers).",
    labelNames: ["pool", "state"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sample()) {
        this.set({ pool: s.pool, state: "idle" }, s.idle);
        this.set({ pool: s.pool, state: "in_use" }, s.inUse);
        this.set({ pool: s.pool, state: "waiting" }, s.waiting);
      }
    },
  });
  new Gauge({
    name: "db_pool_max_connections",
    help: "Configured maximum size of the database pool.",
    labelNames: ["pool"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sample()) this.set({ pool: s.pool }, s.max);
    },
  });
  new Gauge({
    name: "db_pool_min_connections",
    help: "Configured minimum size of the database pool.",
    labelNames: ["pool"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sample()) if (s.min !== undefined) this.set({ pool: s.pool }, s.min);
    },
  });
  new Gauge({
    name: "db_pool_acquire_timeouts",
    help: "Connection acquires that timed out since the process started.",
    labelNames: ["pool"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sample())
        if (s.acquireTimeouts !== undefined) this.set({ pool: s.pool }, s.acquireTimeouts);
    },
  });
  return {
    registry,
    rpcRequests,
    rpcDuration,
    dbQueryDuration,
    dbPoolAcquireWait,
    securityEvents,
    auditRowsSealed,
    auditPartitionsDropped,
    auditRowsRemoved,
    auditJobFailures,
    addPoolSampler(sampler) {
      samplers.add(sampler);
      return () => samplers.delete(sampler);
    },
  };
}
