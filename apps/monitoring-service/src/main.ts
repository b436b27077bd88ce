#!/usr/bin/env node
/** Composition root of the monitoring service: its settings from the environment, then the shared runtime. */
import { serviceMetricsUrlsFromEnv } from "@taskmaster/config/service-metrics";
import { runDatabaseService } from "@taskmaster/service-runtime/database-service";
import { auditScheduleConfigFromEnv } from "./audit-scheduler.config.js";
import { auditSchedulerMember, createServiceAuditScheduler } from "./audit-scheduler.wiring.js";
import { createServer, serviceAddressesFromEnv } from "./server.js";

runDatabaseService({
  name: "monitoring-service",
  defaultGrpcPort: 50053,
  createServer(deps) {
    // Validated before anything starts: a bad AUDIT_* value is one startup error line.
    const schedule = auditScheduleConfigFromEnv(process.env, deps.config.profile);
    const audit = createServiceAuditScheduler({
      orm: deps.orm,
      logger: deps.logger,
      config: deps.config,
      schedule,
      metrics: deps.metrics,
    });
    return createServer({
      ...deps,
      monitoring: {
        serviceAddresses: serviceAddressesFromEnv(process.env),
        serviceMetricsUrls: serviceMetricsUrlsFromEnv(process.env),
        gitCommit: process.env.GIT_COMMIT,
        // RunAuditRetention runs the scheduler's retention job (its own connection and locks).
        auditRetentionDays: schedule.retentionDays,
        auditRetention: audit.runRetention,
        // Started after the server listens; stopped (waiting for a run in flight) before it drains.
        jobs: [auditSchedulerMember(audit)],
      },
    });
  },
});
