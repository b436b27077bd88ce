/**
 * Settings of the scheduled audit maintenance (validated at start; one ConfigError naming every problem):
 *
 * | variable | default | meaning |
 * | --- | --- | --- |
 * | `AUDIT_SEAL_INTERVAL_MS` | 10000 | seal unsealed audit rows (`audit_seal`) this often; 0 = off |
 * | `AUDIT_RETENTION_INTERVAL_MS` | 3600000 | create upcoming partitions and drop expired ones this often; 0 = off |
 * | `AUDIT_RETENTION_DAYS` | 90 | retention (also used by `RunAuditRetention`) |
 * | `AUDIT_RETENTION_DATABASE_URL` | - | connection for retention, as a login in `taskmaster_retention` |
 *
 * Without `AUDIT_RETENTION_DATABASE_URL` retention uses the service's own connection in development and test
 * (where that is the owner) and is off in staging and production (the application role may not drop audit
 * partitions): {@link AuditScheduleConfig.retentionWarning} says so, for one log line at start.
 */

import { ConfigError, type ConfigIssue, type Env } from "@taskmaster/config/config";
import {
  type DataRetentionConfig,
  dataRetentionConfigFromEnv,
} from "@taskmaster/config/data-retention-config";
import { envReader } from "@taskmaster/config/env-reader";
import { postgresUrlVar } from "@taskmaster/config/env-vars";

export interface AuditScheduleConfig {
  /** Retention of the other growing tables (libs/config data-retention-config), run with audit retention. */
  readonly dataRetention?: DataRetentionConfig;
  /** 0 = sealing off. */
  readonly sealIntervalMs: number;
  /** 0 = retention off (also when it has no usable connection, see `retentionDatabase`). */
  readonly retentionIntervalMs: number;
  readonly retentionDays: number;
  /**
   * Where retention runs: `{ url }` = its own connection, `"service"` = the service's connection,
   * `"none"` = retention off (staging/production without AUDIT_RETENTION_DATABASE_URL).
   */
  readonly retentionDatabase: { readonly url: string } | "service" | "none";
  /** Set when retention is off for lack of a connection: why, for a warning at start. */
  readonly retentionWarning?: string | undefined;
}

export const AUDIT_SCHEDULE_DEFAULTS = {
  sealIntervalMs: 10_000,
  retentionIntervalMs: 3_600_000,
  retentionDays: 90,
} as const;

const DAY_MS = 86_400_000;

/** Reads and validates the audit schedule settings; throws {@link ConfigError} listing every problem. */
export function auditScheduleConfigFromEnv(env: Env, profile: string): AuditScheduleConfig {
  const issues: ConfigIssue[] = [];
  const { present, int } = envReader(env, issues);
  const sealIntervalMs = int("AUDIT_SEAL_INTERVAL_MS", 0, DAY_MS, AUDIT_SCHEDULE_DEFAULTS.sealIntervalMs);
  const retentionIntervalMs = int(
    "AUDIT_RETENTION_INTERVAL_MS",
    0,
    7 * DAY_MS,
    AUDIT_SCHEDULE_DEFAULTS.retentionIntervalMs,
  );
  const retentionDays = int("AUDIT_RETENTION_DAYS", 1, 36_500, AUDIT_SCHEDULE_DEFAULTS.retentionDays);
  const url = present("AUDIT_RETENTION_DATABASE_URL");
  if (url !== undefined) {
    const parsed = postgresUrlVar().safeParse(url);
    if (!parsed.success) {
      issues.push({
        variable: "AUDIT_RETENTION_DATABASE_URL",
        message: parsed.error.issues[0]?.message ?? "is invalid",
      });
    }
  }
  let dataRetention: DataRetentionConfig | undefined;
  try {
    dataRetention = dataRetentionConfigFromEnv(env);
  } catch (error) {
    if (error instanceof ConfigError) issues.push(...error.issues);
    else throw error;
  }
  if (issues.length > 0 || dataRetention === undefined) throw new ConfigError(issues);
  const strict = profile === "staging" || profile === "production";
  if (url !== undefined) {
    return { sealIntervalMs, retentionIntervalMs, retentionDays, dataRetention, retentionDatabase: { url } };
  }
  if (!strict)
    return {
      sealIntervalMs,
      retentionIntervalMs,
      retentionDays,
      dataRetention,
      retentionDatabase: "service",
    };
  return {
    sealIntervalMs,
    retentionIntervalMs,
    retentionDays,
    dataRetention,
    retentionDatabase: "none",
    retentionWarning:
      retentionIntervalMs === 0
        ? undefined
        : `scheduled audit retention is off: AUDIT_RETENTION_DATABASE_URL (a login in taskmaster_retention) is not set in the ${profile} profile`,
  };
}
