/**
 * MonitoringService health and diagnostics RPCs: GetHealth, WatchHealth, GetDatabaseHealth,
 * ListSlowQueries, GetPoolStats, GetSystemStatus. Database-backed RPCs are bounded by `dbTimeoutMs` and
 * answer UNAVAILABLE (never hang) when the database does not answer.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { EntityManager, MikroORM } from "@mikro-orm/postgresql";
import {
  boundedRead,
  boundedTransaction,
  DatabaseTimeoutError,
  type SqlRunner,
} from "@taskmaster/persistence/bounded-read";
import {
  appliedMigrations,
  databaseDiagnostics,
  listSlowQueries,
  pgStatStatementsAvailable,
  serverVersion,
} from "@taskmaster/persistence/monitoring.repository";
import type { PoolTracker } from "@taskmaster/persistence/monitoring-pool";
import { HealthStatus } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/health_pb";
import { SystemStatusSchema } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/metrics_pb";
import {
  type MonitoringService,
  SlowQueryOrder,
  type WatchHealthResponse,
  WatchHealthResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { FailedPreconditionError, NotFoundError, UnavailableError } from "@taskmaster/rpc-kit/errors";
import { validator } from "@taskmaster/rpc-kit/validation";
import type { Logger } from "@taskmaster/telemetry/logger";
import { DATABASE_COMPONENT, type HealthMonitor } from "./health-monitor.js";
import {
  databaseToMessage,
  durationFromMs,
  msFromDuration,
  poolToMessage,
  slowQueryToMessage,
  snapshotToMessage,
} from "./monitoring.mapper.js";
import type { ServiceMetricsResult } from "./service-metrics.reader.js";

/** Identity and settings of this process, for status and pool answers. */
export interface ProcessInfo {
  readonly service: string;
  readonly instance: string;
  readonly version: string;
  readonly gitCommit: string;
  readonly startTime: Date;
  readonly profile: string;
  /** Effective configuration, already masked (describeConfig). */
  readonly config: unknown;
}

export interface MonitoringHandlerDeps {
  readonly orm: MikroORM;
  readonly logger: Logger;
  readonly monitor: HealthMonitor;
  readonly pool: () => Promise<PoolTracker>;
  readonly process: ProcessInfo;
  /** Default ListSlowQueries threshold (1000 ms). */
  readonly slowQueryThresholdMs: number;
  /** Long-running transaction threshold (5 min). */
  readonly longTransactionMs: number;
  /** Bound on database work of one RPC before answering UNAVAILABLE (5 s). */
  readonly dbTimeoutMs: number;
  /** Services whose pools GetPoolStats knows by name (their pools live in other processes). */
  readonly knownServices: readonly string[];
  /** Reads other processes' /metrics (service-metrics.reader.ts); absent = every other process unreachable. */
  readonly readServices?: ((services: readonly string[]) => Promise<ServiceMetricsResult[]>) | undefined;
}

type Handlers = Pick<
  ServiceImpl<typeof MonitoringService>,
  "getHealth" | "watchHealth" | "getDatabaseHealth" | "listSlowQueries" | "getPoolStats" | "getSystemStatus"
>;

/** UNAVAILABLE (retryable) for database work that did not finish within its bound. */
async function unavailableOnTimeout<T>(timeoutMs: number, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof DatabaseTimeoutError) {
      throw new UnavailableError(
        `database did not answer within ${timeoutMs} ms`,
        1_000,
        "DATABASE_UNAVAILABLE",
      );
    }
    throw error;
  }
}

/**
 * Bounded read-only database work of one RPC: runs under `statement_timeout` on a connection that is
 * destroyed if it does not answer (boundedRead), and answers UNAVAILABLE past `timeoutMs` rather than hang.
 * Nothing is left running on a pooled connection after the answer.
 */
export function boundedDb<T>(
  em: EntityManager,
  timeoutMs: number,
  work: (sql: SqlRunner) => Promise<T>,
): Promise<T> {
  return unavailableOnTimeout(timeoutMs, boundedRead(em, timeoutMs, work));
}

/**
 * ORM work of one RPC (repository functions) in one transaction under `statement_timeout`
 * (boundedTransaction): PostgreSQL cancels what still runs at the deadline, the answer is UNAVAILABLE, and
 * the connection goes back to the pool idle.
 */
export function boundedOrm<T>(
  em: EntityManager,
  timeoutMs: number,
  work: (tx: EntityManager) => Promise<T>,
): Promise<T> {
  return unavailableOnTimeout(timeoutMs, boundedTransaction(em, timeoutMs, work));
}

function checkComponents(monitor: HealthMonitor, components: readonly string[]): void {
  for (const c of components) {
    if (!monitor.has(c)) throw new NotFoundError("component", c);
  }
}

const PG_STAT_HELP =
  "pg_stat_statements is not available: add shared_preload_libraries = 'pg_stat_statements' to " +
  "postgresql.conf (or start postgres with -c shared_preload_libraries=pg_stat_statements), restart " +
  "PostgreSQL, then run CREATE EXTENSION pg_stat_statements in this database";

interface SlowPageToken {
  o: number;
  t: number;
  s: number;
}

function encodeToken(t: SlowPageToken): string {
  return Buffer.from(JSON.stringify(t)).toString("base64url");
}

function decodeToken(raw: string): SlowPageToken | undefined {
  try {
    const t = JSON.parse(Buffer.from(raw, "base64url").toString("utf8")) as Partial<SlowPageToken>;
    if (
      typeof t.o === "number" &&
      Number.isInteger(t.o) &&
      t.o >= 0 &&
      typeof t.t === "number" &&
      typeof t.s === "number"
    ) {
      return { o: t.o, t: t.t, s: t.s };
    }
  } catch {
    // fall through
  }
  return undefined;
}

async function* watchHealth(
  monitor: HealthMonitor,
  components: readonly string[],
  heartbeatMs: number,
  ctx: HandlerContext,
): AsyncGenerator<WatchHealthResponse> {
  const queue: { changed: string[] }[] = [];
  let wake: (() => void) | undefined;
  const unsubscribe = monitor.onChange((_snap, changed) => {
    const relevant = changed.filter((c) => components.length === 0 || components.includes(c));
    if (relevant.length === 0) return;
    queue.push({ changed: relevant });
    wake?.();
  });
  const onAbort = () => wake?.();
  ctx.signal.addEventListener("abort", onAbort);
  try {
    const first = await monitor.check();
    yield create(WatchHealthResponseSchema, { health: snapshotToMessage(first, components) });
    queue.length = 0;
    while (!ctx.signal.aborted) {
      if (queue.length === 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, heartbeatMs);
        });
        clearTimeout(timer);
        wake = undefined;
      }
      if (ctx.signal.aborted) return;
      const item = queue.shift();
      yield create(WatchHealthResponseSchema, {
        health: snapshotToMessage(monitor.snapshot(), components),
        changedComponents: item?.changed ?? [],
      });
    }
  } finally {
    unsubscribe();
    ctx.signal.removeEventListener("abort", onAbort);
  }
}

export function createMonitoringHandlers(deps: MonitoringHandlerDeps): Handlers {
  const fork = () => deps.orm.em.fork();
  const bounded = <T>(work: (sql: SqlRunner) => Promise<T>) => boundedDb(fork(), deps.dbTimeoutMs, work);

  return {
    async getHealth(req) {
      const v = validator();
      req.components.forEach((c, i) => {
        v.required(`components[${i}]`, c);
      });
      v.check();
      checkComponents(deps.monitor, req.components);
      const snap = await deps.monitor.check();
      return { health: snapshotToMessage(snap, req.components) };
    },

    watchHealth(req, ctx) {
      const v = validator();
      let heartbeatMs = 30_000;
      if (req.heartbeatInterval !== undefined) {
        heartbeatMs = msFromDuration(req.heartbeatInterval);
        if (heartbeatMs < 5_000 || heartbeatMs > 300_000) {
          v.add("heartbeat_interval", "must be between 5 s and 5 min", "OUT_OF_RANGE");
        }
      }
      req.components.forEach((c, i) => {
        v.required(`components[${i}]`, c);
      });
      v.check();
      checkComponents(deps.monitor, req.components);
      return watchHealth(deps.monitor, req.components, heartbeatMs, ctx);
    },

    async getDatabaseHealth() {
      const state = await deps.monitor.checkDatabase();
      if (state.status === HealthStatus.NOT_SERVING || state.consecutiveFailures > 0) {
        throw new UnavailableError(`database unavailable: ${state.message}`, 1_000, "DATABASE_UNAVAILABLE");
      }
      const at = new Date();
      const diag = await bounded((sql) =>
        databaseDiagnostics(sql, { longTransactionMs: deps.longTransactionMs }),
      );
      return { database: databaseToMessage(diag, state.status, at) };
    },

    async listSlowQueries(req) {
      const v = validator();
      let size = 10;
      if (req.pageSize < 0 || req.pageSize > 100) {
        v.add("page_size", "must be between 1 and 100 (0 means 10)", "OUT_OF_RANGE");
      } else if (req.pageSize > 0) size = req.pageSize;
      let thresholdMs = deps.slowQueryThresholdMs;
      if (req.threshold !== undefined) {
        thresholdMs = msFromDuration(req.threshold);
        if (req.threshold.seconds < 0n || req.threshold.nanos < 0) {
          v.add("threshold", "must not be negative", "OUT_OF_RANGE");
        }
      }
      if (SlowQueryOrder[req.order] === undefined) {
        v.add("order", "must be a defined SlowQueryOrder value", "INVALID_ENUM");
      }
      const order = req.order === SlowQueryOrder.TOTAL_TIME ? "total" : "mean";
      let offset = 0;
      if (req.pageToken !== "") {
        const token = decodeToken(req.pageToken);
        if (token === undefined || token.t !== thresholdMs || token.s !== req.order) {
          v.add("page_token", "is not a page token of this query", "INVALID_PAGE_TOKEN");
        } else offset = token.o;
      }
      v.check();
      if (!(await bounded(pgStatStatementsAvailable))) {
        throw new FailedPreconditionError(PG_STAT_HELP, {
          reason: "PG_STAT_STATEMENTS_MISSING",
          violations: [{ type: "EXTENSION", subject: "pg_stat_statements", description: PG_STAT_HELP }],
        });
      }
      const rows = await bounded((sql) =>
        listSlowQueries(sql, { thresholdMs, order, limit: size + 1, offset }),
      );
      const page = rows.slice(0, size);
      return {
        slowQueries: page.map(slowQueryToMessage),
        nextPageToken:
          rows.length > size ? encodeToken({ o: offset + size, t: thresholdMs, s: req.order }) : "",
      };
    },

    async getPoolStats(req) {
      const known = new Set([deps.process.service, ...deps.knownServices]);
      const v = validator();
      req.services.forEach((s, i) => {
        if (!known.has(s)) v.add(`services[${i}]`, `unknown service (known: ${[...known].join(", ")})`);
      });
      v.check();
      const wanted = req.services.length === 0 ? [...known] : req.services;
      const pools = [];
      if (wanted.includes(deps.process.service)) {
        const tracker = await deps.pool();
        pools.push(poolToMessage(deps.process.service, deps.process.instance, tracker.snapshot()));
      }
      // Other processes' pools come from their own /metrics; one that does not answer is unreachable.
      const others = wanted.filter((s) => s !== deps.process.service);
      const results = others.length > 0 && deps.readServices ? await deps.readServices(others) : [];
      const unreachable = others.filter((s) => !results.some((r) => r.ok && r.service === s));
      for (const r of results) {
        if (!r.ok) continue;
        for (const p of r.pools) pools.push(poolToMessage(r.service, r.instance, p));
      }
      return { pools, unreachableServices: unreachable };
    },

    async getSystemStatus() {
      // One connection, one statement at a time (a pg client queues them anyway).
      const [migrations, dbVersion] = await bounded(async (sql) => [
        await appliedMigrations(sql),
        await serverVersion(sql),
      ]);
      const p = deps.process;
      const now = new Date();
      return {
        status: create(SystemStatusSchema, {
          services: [
            {
              service: p.service,
              instance: p.instance,
              version: p.version,
              gitCommit: p.gitCommit,
              runtimeVersion: process.version,
              startTime: timestampFromDate(p.startTime),
              uptime: durationFromMs(now.getTime() - p.startTime.getTime()),
              profile: p.profile,
            },
          ],
          migrations: migrations.map((m) => ({ name: m.name, applyTime: timestampFromDate(m.appliedAt) })),
          config: JSON.parse(
            JSON.stringify(p.config ?? {}, (_k, val) => (typeof val === "bigint" ? val.toString() : val)),
          ),
          databaseVersion: dbVersion,
          profile: p.profile,
          serverTime: timestampFromDate(now),
        }),
      };
    },
  };
}

export { DATABASE_COMPONENT };
