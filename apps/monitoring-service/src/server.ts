/**
 * `createServer(deps)`: the monitoring service's gRPC server, built but not listening; no side effects. Owns
 * a HealthMonitor (polling every configured service's grpc.health.v1 and the database) and the alert runtime
 * as server members: started once the server listens, stopped before it drains.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { describeConfig } from "@taskmaster/config/config";
import { serviceMetricsUrlsFromEnv } from "@taskmaster/config/service-metrics";
import { poolTracker } from "@taskmaster/persistence/monitoring-pool";
import { AuditService } from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_service_pb";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { createGrpcServer, type GrpcServer, serviceRegistration } from "@taskmaster/rpc-kit/grpc-server";
import type { LifecycleMember } from "@taskmaster/rpc-kit/lifecycle-member";
import { mapDatabaseError } from "@taskmaster/service-runtime/database-error-map";
import { databaseHealth } from "@taskmaster/service-runtime/database-health";
import type { ServiceDeps } from "@taskmaster/service-runtime/database-service";
import { createProcessMetrics } from "@taskmaster/telemetry/metrics";
import { type AlertingOptions, AlertRuntime } from "./alert-runtime.js";
import { type AuditRetentionRunner, createAuditHandlers } from "./audit.handlers.js";
import { HealthMonitor } from "./health-monitor.js";
import { createMonitoringHandlers } from "./monitoring.handlers.js";
import { createServiceMetricsReader } from "./service-metrics.reader.js";

/** Where the other services listen: env TASK_SERVICE_ADDRESS / TEMPLATE_SERVICE_ADDRESS (main.ts). */
export function serviceAddressesFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  return {
    "taskmaster.task.v1.TaskService": env.TASK_SERVICE_ADDRESS || "127.0.0.1:50051",
    "taskmaster.template.v1.TemplateService": env.TEMPLATE_SERVICE_ADDRESS || "127.0.0.1:50052",
  };
}

export interface MonitoringOptions {
  /** grpc.health.v1 service name -> address (main.ts: from the environment; default: the local ports). */
  readonly serviceAddresses?: Readonly<Record<string, string>>;
  /**
   * Service name -> its Prometheus /metrics URL, read for GetPoolStats and the pool / error-rate alerts
   * (main.ts: TASK_SERVICE_METRICS_ADDRESS / TEMPLATE_SERVICE_METRICS_ADDRESS, libs/config service-metrics;
   * default: the local ports).
   */
  readonly serviceMetricsUrls?: Readonly<Record<string, string>>;
  /** Deadline of one /metrics read (default 2 s). */
  readonly metricsTimeoutMs?: number;
  /** Health poll interval (default 10 s). */
  readonly healthIntervalMs?: number;
  /** Deadline of one health check (default 2 s). */
  readonly checkTimeoutMs?: number;
  /** ListSlowQueries default threshold (default 1000 ms). */
  readonly slowQueryThresholdMs?: number;
  /** Long-running transaction threshold (default 5 min). */
  readonly longTransactionMs?: number;
  /** Bound on the database work of one RPC (default 5 s). */
  readonly dbTimeoutMs?: number;
  /** Alert rule evaluation and webhooks. */
  readonly alerting?: AlertingOptions;
  /** Audit retention in days for RunAuditRetention (main.ts: env AUDIT_RETENTION_DAYS; default 90). */
  readonly auditRetentionDays?: number | undefined;
  /**
   * The audit scheduler's retention run on its own connection (a `taskmaster_retention` login), used by
   * RunAuditRetention; `null` = retention not configured (staging/production without
   * AUDIT_RETENTION_DATABASE_URL); absent = run on the service's own connection (development, tests).
   */
  readonly auditRetention?: AuditRetentionRunner | null;
  /** Build commit shown by GetProcessInfo (main.ts: env GIT_COMMIT; default empty). */
  readonly gitCommit?: string | undefined;
  /**
   * More background jobs of this process (the audit scheduler), started after the health monitor and the
   * alert runtime once the server listens and stopped before them.
   */
  readonly jobs?: readonly LifecycleMember[] | undefined;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "";
  } catch {
    return "";
  }
}

const START_TIME = new Date();

export function createServer(
  deps: Pick<ServiceDeps, "orm" | "logger"> & Partial<ServiceDeps> & { monitoring?: MonitoringOptions },
): GrpcServer {
  const options = deps.monitoring ?? {};
  const monitor = new HealthMonitor({
    orm: deps.orm,
    services: options.serviceAddresses ?? serviceAddressesFromEnv({}),
    intervalMs: options.healthIntervalMs,
    checkTimeoutMs: options.checkTimeoutMs,
    channel: deps.outbound?.channel,
  });
  const service = deps.config?.server.name ?? "monitoring-service";
  const metricsUrls = options.serviceMetricsUrls ?? serviceMetricsUrlsFromEnv({});
  const profile = deps.config?.profile ?? "development";
  const readServices = createServiceMetricsReader(metricsUrls, options.metricsTimeoutMs ?? 2_000);
  const handlers = createMonitoringHandlers({
    orm: deps.orm,
    logger: deps.logger,
    monitor,
    pool: () => poolTracker(deps.orm),
    process: {
      service,
      instance: `${hostname()}:${process.pid}`,
      version: packageVersion(),
      gitCommit: options.gitCommit ?? "",
      startTime: START_TIME,
      profile,
      config: describeConfig(deps.config ?? {}),
    },
    slowQueryThresholdMs: options.slowQueryThresholdMs ?? 1_000,
    longTransactionMs: options.longTransactionMs ?? 300_000,
    dbTimeoutMs: options.dbTimeoutMs ?? 5_000,
    knownServices:
      Object.keys(metricsUrls).length > 0 ? Object.keys(metricsUrls) : ["task-service", "template-service"],
    readServices,
  });
  const metrics = deps.metrics ?? createProcessMetrics({ defaultMetrics: false });
  const alerting = new AlertRuntime({
    orm: deps.orm,
    metrics,
    logger: deps.logger,
    monitor,
    pool: () => poolTracker(deps.orm),
    service,
    profile,
    dbTimeoutMs: options.dbTimeoutMs ?? 5_000,
    options: options.alerting,
    readServices: () => readServices(),
  });
  return createGrpcServer({
    security: deps.security,
    errorMap: mapDatabaseError,
    logger: deps.logger,
    health: databaseHealth(deps.orm, [MonitoringService.typeName, AuditService.typeName]),
    limits: deps.limits,
    maxDeadlineMs: deps.maxDeadlineMs,
    metrics,
    services: [
      serviceRegistration(MonitoringService, { ...handlers, ...alerting.handlers }),
      serviceRegistration(
        AuditService,
        createAuditHandlers({
          orm: deps.orm,
          logger: deps.logger,
          dbTimeoutMs: options.dbTimeoutMs ?? 5_000,
          retentionDays: options.auditRetentionDays,
          retention: options.auditRetention,
        }),
      ),
    ],
    // Stopped in reverse order before the drain: the jobs, then alerting (it reads the monitor; ends
    // WatchAlerts streams so the drain is quick), then the monitor.
    members: [
      {
        name: "health-monitor",
        start: () => monitor.start(),
        stop: () => monitor.stop(),
        stopBeforeDrain: true,
      },
      { name: "alerting", start: () => alerting.start(), stop: () => alerting.stop(), stopBeforeDrain: true },
      ...(options.jobs ?? []),
    ],
  });
}
