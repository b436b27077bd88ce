#!/usr/bin/env node
/** Composition root of the monitoring service. */
import { runDatabaseService } from "@taskmaster/service-runtime/database-service";
import { auditScheduleConfigFromEnv } from "./audit-scheduler.config.js";
import { createServiceAuditScheduler, withAuditScheduler } from "./audit-scheduler.wiring.js";
import { createServer } from "./server.js";

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
    });
    // RunAuditRetention runs the scheduler's retention job (its own connection and locks).
    const server = createServer({
      ...deps,
      monitoring: { auditRetentionDays: schedule.retentionDays, auditRetention: audit.runRetention },
    });
    // Started after the server listens; stopped (waiting for a run in flight) before it drains.
    return withAuditScheduler(server, audit);
  },
});
