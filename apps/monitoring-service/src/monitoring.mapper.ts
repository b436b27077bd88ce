/** Rows and monitor states -> MonitoringService messages. */
import { create } from "@bufbuild/protobuf";
import { type Duration, DurationSchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { DatabaseDiagnostics, SlowQueryRow } from "@taskmaster/persistence/monitoring.repository";
import type { PoolSnapshot } from "@taskmaster/persistence/monitoring-pool";
import {
  type ComponentHealth,
  ComponentHealthSchema,
  ComponentKind,
  type DatabaseHealth,
  DatabaseHealthSchema,
  HealthStatus,
  type SystemHealth,
  SystemHealthSchema,
} from "@taskmaster/proto/gen/taskmaster/monitoring/v1/health_pb";
import {
  type PoolStats,
  PoolStatsSchema,
  type SlowQuery,
  SlowQuerySchema,
} from "@taskmaster/proto/gen/taskmaster/monitoring/v1/metrics_pb";
import type { ComponentState, HealthSnapshot } from "./health-monitor.js";

/** Milliseconds (fractional) -> Duration. */
export function durationFromMs(ms: number): Duration {
  const totalNanos = BigInt(Math.max(0, Math.round(ms * 1e6)));
  return create(DurationSchema, {
    seconds: totalNanos / 1_000_000_000n,
    nanos: Number(totalNanos % 1_000_000_000n),
  });
}

/** Duration -> milliseconds. */
export function msFromDuration(d: Duration): number {
  return Number(d.seconds) * 1000 + d.nanos / 1e6;
}

export function componentToMessage(s: ComponentState): ComponentHealth {
  return create(ComponentHealthSchema, {
    component: s.component,
    kind: s.kind,
    status: s.status,
    message: s.message,
    latency: durationFromMs(s.latencyMs),
    ...(s.checkTime !== undefined && { checkTime: timestampFromDate(s.checkTime) }),
    statusSinceTime: timestampFromDate(s.statusSince),
    consecutiveFailures: s.consecutiveFailures,
  });
}

export function snapshotToMessage(snap: HealthSnapshot, only: readonly string[]): SystemHealth {
  const components = snap.components.filter((c) => only.length === 0 || only.includes(c.component));
  let status = HealthStatus.SERVING;
  const order = [HealthStatus.SERVING, HealthStatus.DEGRADED, HealthStatus.UNKNOWN, HealthStatus.NOT_SERVING];
  for (const c of components) if (order.indexOf(c.status) > order.indexOf(status)) status = c.status;
  return create(SystemHealthSchema, {
    status,
    components: components.map(componentToMessage),
    checkTime: timestampFromDate(snap.checkTime),
  });
}

export function databaseToMessage(d: DatabaseDiagnostics, status: HealthStatus, at: Date): DatabaseHealth {
  return create(DatabaseHealthSchema, {
    status,
    reachable: true,
    roundTripLatency: durationFromMs(d.roundTripMs),
    serverVersion: d.serverVersion,
    connections: d.connections,
    maxConnections: d.maxConnections,
    isReplica: d.isReplica,
    replication: d.replication.map((r) => ({
      applicationName: r.applicationName,
      state: r.state,
      syncState: r.syncState,
      replayLag: durationFromMs(r.replayLagMs),
    })),
    databaseSizeBytes: d.databaseSizeBytes,
    cacheHitRatio: d.cacheHitRatio,
    longRunningTransactions: d.longRunning.map((t) => ({
      pid: t.pid,
      duration: durationFromMs(t.durationMs),
      state: t.state,
      applicationName: t.applicationName,
      user: t.user,
      waitEventType: t.waitEventType,
      query: t.query,
    })),
    locksWaiting: d.locksWaiting,
    pgStatStatementsEnabled: d.pgStatStatements,
    checkTime: timestampFromDate(at),
  });
}

export function slowQueryToMessage(r: SlowQueryRow): SlowQuery {
  return create(SlowQuerySchema, {
    queryId: r.queryId,
    query: r.query,
    calls: r.calls,
    meanExecTime: durationFromMs(r.meanMs),
    totalExecTime: durationFromMs(r.totalMs),
    maxExecTime: durationFromMs(r.maxMs),
    stddevExecTime: durationFromMs(r.stddevMs),
    rows: r.rows,
    cacheHitRatio: r.cacheHitRatio,
    user: r.user,
  });
}

export function poolToMessage(service: string, instance: string, p: PoolSnapshot): PoolStats {
  return create(PoolStatsSchema, {
    service,
    instance,
    pool: p.pool,
    minSize: p.min,
    maxSize: p.max,
    total: p.total,
    inUse: p.inUse,
    idle: p.idle,
    waiting: p.waiting,
    meanAcquireWait: durationFromMs(p.meanAcquireWaitMs),
    p95AcquireWait: durationFromMs(p.p95AcquireWaitMs),
    acquireCount: BigInt(p.acquireCount),
    acquireTimeoutCount: BigInt(p.acquireTimeoutCount),
    sampleTime: timestampFromDate(p.sampleTime),
  });
}

export { ComponentKind };
