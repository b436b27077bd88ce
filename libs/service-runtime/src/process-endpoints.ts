/**
 * The per-process HTTP endpoints of a database-backed service: `/health` (grpc health registry incl. the
 * database check), `/health/database` (`SELECT 1` latency), `/status` (version, uptime, profile, masked
 * config) on HEALTH_PORT and `/metrics` (RPC metrics, pool gauges, process metrics) on METRICS_PORT.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { MikroORM } from "@mikro-orm/postgresql";
import { type CommonConfig, describeConfig } from "@taskmaster/config/config";
import { boundedRead } from "@taskmaster/persistence/bounded-read";
import { pingDatabase } from "@taskmaster/persistence/monitoring.repository";
import { poolTracker } from "@taskmaster/persistence/monitoring-pool";
import type { HealthRegistry } from "@taskmaster/rpc-kit/health";
import { ServingStatus } from "@taskmaster/rpc-kit/health";
import { type HttpEndpoints, startHttpEndpoints } from "@taskmaster/rpc-kit/http-endpoints";
import type { Logger } from "@taskmaster/telemetry/logger";
import type { ProcessMetrics } from "@taskmaster/telemetry/metrics";

export interface ProcessEndpointsOptions {
  readonly orm: MikroORM;
  readonly config: Pick<CommonConfig, "profile" | "server"> & Partial<CommonConfig>;
  readonly health: HealthRegistry | undefined;
  readonly logger: Logger;
  /** Package version shown by /status. */
  readonly version?: string | undefined;
  /** Build commit shown by /status (the runtime passes env GIT_COMMIT; default empty). */
  readonly gitCommit?: string | undefined;
  readonly metrics: ProcessMetrics;
  /** Bound on the database probe of /health/database (default 2 s). */
  readonly databaseTimeoutMs?: number | undefined;
}

const START = new Date();

function firstLine(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const msg = typeof e?.message === "string" ? e.message : String(err);
  const code = typeof e?.code === "string" && !msg.includes(e.code) ? `${e.code} ` : "";
  return (
    `${code}${msg}`
      .split("\n")[0]
      ?.replace(/\w+:\/\/\S+/g, "<url>")
      .slice(0, 200) ?? ""
  );
}

/** Version of the package whose entry point started this process (best effort). */
export function mainPackageVersion(): string {
  try {
    const main = process.argv[1];
    if (main === undefined) return "";
    const pkg = JSON.parse(readFileSync(new URL("../package.json", `file://${main}`), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "";
  } catch {
    return "";
  }
}

export async function startProcessEndpoints(options: ProcessEndpointsOptions): Promise<HttpEndpoints> {
  const { orm, config } = options;
  const metrics = options.metrics;
  const tracker = await poolTracker(orm);
  tracker.onAcquire((ms) => metrics.dbPoolAcquireWait.observe({ pool: "default" }, ms / 1000));
  metrics.addPoolSampler(() => {
    const s = tracker.snapshot();
    return [
      {
        pool: s.pool,
        total: s.total,
        idle: s.idle,
        inUse: s.inUse,
        waiting: s.waiting,
        max: s.max,
        min: s.min,
        acquireTimeouts: s.acquireTimeoutCount,
      },
    ];
  });
  const dbTimeout = options.databaseTimeoutMs ?? 2_000;
  const probeDatabase = async () => {
    const end = metrics.dbQueryDuration.startTimer({ operation: "health_ping" });
    try {
      // statement_timeout, and a connection that does not answer is destroyed: no ping left running.
      const ms = await boundedRead(orm.em.fork(), dbTimeout, pingDatabase);
      return { ok: true as const, ms };
    } catch (err) {
      return { ok: false as const, message: firstLine(err) };
    } finally {
      end();
    }
  };
  const service = config.server.name;
  return startHttpEndpoints({
    host: config.server.host,
    healthPort: config.server.healthPort,
    metricsPort: config.server.metricsPort,
    registry: metrics.registry,
    logger: options.logger,
    async health() {
      const [grpc, db] = await Promise.all([options.health?.evaluate(""), probeDatabase()]);
      const serving = db.ok && (grpc === undefined || grpc === ServingStatus.SERVING);
      return {
        healthy: serving,
        body: {
          status: serving ? "SERVING" : "NOT_SERVING",
          service,
          checks: {
            grpc: grpc === undefined ? "UNKNOWN" : ServingStatus[grpc],
            database: db.ok ? "SERVING" : "NOT_SERVING",
          },
          ...(!db.ok && { message: `database: ${db.message}` }),
          time: new Date().toISOString(),
        },
      };
    },
    async databaseHealth() {
      const db = await probeDatabase();
      return {
        healthy: db.ok,
        body: db.ok
          ? { status: "SERVING", reachable: true, roundTripMs: Number(db.ms.toFixed(3)) }
          : { status: "NOT_SERVING", reachable: false, message: db.message },
      };
    },
    async status() {
      const pool = tracker.snapshot();
      return {
        service,
        instance: `${hostname()}:${process.pid}`,
        version: options.version ?? mainPackageVersion(),
        gitCommit: options.gitCommit ?? "",
        runtimeVersion: process.version,
        profile: config.profile,
        startTime: START.toISOString(),
        uptimeSeconds: Math.round((Date.now() - START.getTime()) / 1000),
        pool: {
          min: pool.min,
          max: pool.max,
          total: pool.total,
          inUse: pool.inUse,
          idle: pool.idle,
          waiting: pool.waiting,
        },
        config: describeConfig(config),
      };
    },
  });
}
