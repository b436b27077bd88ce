/**
 * Retention of the tables that otherwise grow forever (run by the monitoring service's audit retention job,
 * `data_retention_purge`); 0 keeps rows forever:
 *
 * | variable | default | removes |
 * | --- | --- | --- |
 * | `OUTBOX_RETENTION_DAYS` | 7 | outbox events (WatchTasks resume tokens older than that expire: RESUME_TOKEN_EXPIRED) |
 * | `IDEMPOTENCY_KEY_RETENTION_DAYS` | 2 | idempotency keys past their expiry and older than that |
 * | `SECURITY_EVENT_RETENTION_DAYS` | 90 | security events |
 * | `TEMPLATE_USAGE_LOG_RETENTION_DAYS` | 365 | template usage log rows |
 * | `DELETED_TASK_RETENTION_DAYS` | 30 | soft-deleted tasks (and their comments, attachments rows, history) |
 */
import { ConfigError, type ConfigIssue, type Env } from "./config.js";
import { envReader } from "./env-reader.js";

export interface DataRetentionConfig {
  readonly outboxDays: number;
  readonly idempotencyKeyDays: number;
  readonly securityEventDays: number;
  readonly templateUsageLogDays: number;
  readonly deletedTaskDays: number;
}

export const DATA_RETENTION_DEFAULTS: DataRetentionConfig = {
  outboxDays: 7,
  idempotencyKeyDays: 2,
  securityEventDays: 90,
  templateUsageLogDays: 365,
  deletedTaskDays: 30,
};

const VARIABLES: Record<keyof DataRetentionConfig, string> = {
  outboxDays: "OUTBOX_RETENTION_DAYS",
  idempotencyKeyDays: "IDEMPOTENCY_KEY_RETENTION_DAYS",
  securityEventDays: "SECURITY_EVENT_RETENTION_DAYS",
  templateUsageLogDays: "TEMPLATE_USAGE_LOG_RETENTION_DAYS",
  deletedTaskDays: "DELETED_TASK_RETENTION_DAYS",
};

/** Reads and validates the retention settings; throws {@link ConfigError} listing every problem. */
export function dataRetentionConfigFromEnv(env: Env): DataRetentionConfig {
  const issues: ConfigIssue[] = [];
  const { int } = envReader(env, issues);
  const out: Record<string, number> = {};
  for (const [key, variable] of Object.entries(VARIABLES) as [keyof DataRetentionConfig, string][]) {
    out[key] = int(variable, 0, 36_500, DATA_RETENTION_DEFAULTS[key]);
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return out as unknown as DataRetentionConfig;
}
