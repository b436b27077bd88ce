/**
 * The audit scheduler in a running monitoring service: connections from config (the service's ORM for
 * sealing; `AUDIT_RETENTION_DATABASE_URL`, opened on first use with one pooled connection, or the service's
 * ORM in development/test, for retention) and its server member, started once the server listens and stopped
 * (waiting for a run in flight) before the server drains and the ORM closes.
 */
import type { MikroORM } from "@mikro-orm/postgresql";
import type { CommonConfig } from "@taskmaster/config/config";
import { runOn } from "@taskmaster/persistence/bounded-read";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { ormOptionsFromConfig } from "@taskmaster/persistence/service-database";
import type { LifecycleMember } from "@taskmaster/rpc-kit/lifecycle-member";
import type { Logger } from "@taskmaster/telemetry/logger";
import type { ProcessMetrics } from "@taskmaster/telemetry/metrics";
import type { AuditScheduleConfig } from "./audit-scheduler.config.js";
import { AuditScheduler, type AuditSchedulerOptions, type AuditSql } from "./audit-scheduler.js";

/** Statements on a fresh fork of `orm` (no transaction: each statement is its own). */
export function ormSql(orm: MikroORM): AuditSql {
  return (statement) => runOn(orm.em.fork(), statement);
}

/** An ORM opened on first use (a failed open is retried on the next use) and closed by `close()`. */
export function lazyOrmSql(open: () => Promise<MikroORM>): { run: AuditSql; close(): Promise<void> } {
  let opening: Promise<MikroORM> | undefined;
  let closed = false;
  return {
    run: async (statement) => {
      if (closed) throw new Error("the audit retention connection is closed");
      opening ??= open().catch((err: unknown) => {
        opening = undefined;
        throw err;
      });
      return ormSql(await opening)(statement);
    },
    async close() {
      closed = true;
      const orm = await opening?.catch(() => undefined);
      await orm?.close(true);
    },
  };
}

export interface ServiceAuditSchedulerDeps {
  readonly orm: MikroORM;
  readonly logger: Logger;
  readonly config: Pick<CommonConfig, "database" | "server">;
  readonly schedule: AuditScheduleConfig;
  readonly metrics: ProcessMetrics;
  readonly onRun?: AuditSchedulerOptions["onRun"];
}

export interface ServiceAuditScheduler {
  readonly scheduler: AuditScheduler;
  /** One retention run now on the retention connection (RunAuditRetention); null when none is configured. */
  readonly runRetention: (() => ReturnType<AuditScheduler["retentionNow"]>) | null;
  /** Log the configuration (and the retention warning, if any), then start the schedules. */
  start(): void;
  /** Stop the schedules (waits for a run in flight), then close the retention connection. */
  stop(): Promise<void>;
}

export function createServiceAuditScheduler(deps: ServiceAuditSchedulerDeps): ServiceAuditScheduler {
  const { schedule } = deps;
  const target = schedule.retentionDatabase;
  const own =
    typeof target === "object"
      ? lazyOrmSql(
          async () =>
            (await initOrm({
              ...ormOptionsFromConfig(
                {
                  ...deps.config.database,
                  url: target.url,
                  pool: { ...deps.config.database.pool, min: 0, max: 1 },
                },
                `${deps.config.server.name}-audit-retention`,
              ),
            })) as MikroORM,
        )
      : undefined;
  const retentionDb = own?.run ?? (target === "service" ? ormSql(deps.orm) : undefined);
  const scheduler = new AuditScheduler({
    logger: deps.logger,
    sealDb: ormSql(deps.orm),
    retentionDb,
    sealIntervalMs: schedule.sealIntervalMs,
    retentionIntervalMs: schedule.retentionIntervalMs,
    retentionDays: schedule.retentionDays,
    dataRetention: schedule.dataRetention,
    metrics: deps.metrics,
    onRun: deps.onRun,
  });
  return {
    scheduler,
    runRetention: retentionDb === undefined ? null : () => scheduler.retentionNow(),
    start() {
      if (schedule.retentionWarning !== undefined) deps.logger.warn(schedule.retentionWarning);
      const on = scheduler.enabled;
      deps.logger.info(
        {
          sealIntervalMs: on.seal ? schedule.sealIntervalMs : 0,
          retentionIntervalMs: on.retention ? schedule.retentionIntervalMs : 0,
          retentionDays: schedule.retentionDays,
          retentionConnection: typeof target === "object" ? "AUDIT_RETENTION_DATABASE_URL" : target,
        },
        "audit scheduler",
      );
      scheduler.start();
    },
    async stop() {
      await scheduler.stop();
      await own?.close();
    },
  };
}

/** `audit` as a server member (monitoring server.ts `jobs`): started once listening, stopped before the drain. */
export function auditSchedulerMember(audit: Pick<ServiceAuditScheduler, "start" | "stop">): LifecycleMember {
  return {
    name: "audit-scheduler",
    start: () => audit.start(),
    stop: () => audit.stop(),
    stopBeforeDrain: true,
  };
}
