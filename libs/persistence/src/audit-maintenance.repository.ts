/**
 * Audit and data maintenance: the SQL functions of the audit migrations that chain unsealed rows
 * (`audit_seal`), keep monthly partitions ready (`audit_ensure_partitions`), drop expired ones
 * (`audit_drop_expired`) and purge expired operational rows (`data_retention_purge`). Each call is one
 * statement on `db`: a manager's connection (and its current transaction), or a {@link SqlRunner} such as a
 * dedicated retention connection. The functions serialise on advisory locks themselves.
 */
import type { DataRetentionConfig } from "@taskmaster/config/data-retention-config";
import { runOn, type SqlRunner, type SqlTarget } from "./bounded-read.js";
import { sql } from "./sql-toolkit.js";

export type { SqlRunner, SqlTarget };

/** Chains up to `batchRows` unsealed audit rows (`audit_seal`); how many it sealed. */
export async function sealAuditBatch(db: SqlTarget, batchRows: number): Promise<number> {
  const rows = await runOn(db, sql<{ sealed: unknown }>`select audit_seal(${batchRows}::int)::int as sealed`);
  return Number(rows[0]?.sealed ?? 0);
}

/** Creates the monthly partitions up to `monthsAhead` months ahead (`audit_ensure_partitions`); their names. */
export async function ensureAuditPartitions(db: SqlTarget, monthsAhead: number): Promise<string[]> {
  const rows = await runOn(db, sql<{ p: unknown }>`select audit_ensure_partitions(${monthsAhead}::int) as p`);
  return rows.map((r) => String(r.p));
}

/**
 * Drops the audit rows older than `days` (`audit_drop_expired`): expired month partitions, and stray expired
 * rows of `audit_log_default`; each range removed with its row count.
 */
export async function dropExpiredAudit(
  db: SqlTarget,
  days: number,
): Promise<{ partition: string; rows: bigint }[]> {
  const rows = await runOn(
    db,
    sql<{
      partition_name: unknown;
      rows_removed: unknown;
    }>`select partition_name, rows_removed::text as rows_removed
      from audit_drop_expired(${days}::int)`,
  );
  return rows.map((r) => ({
    partition: String(r.partition_name),
    rows: BigInt(String(r.rows_removed ?? "0")),
  }));
}

/**
 * Removes expired outbox events, idempotency keys, security events, template usage logs and soft-deleted
 * tasks (`data_retention_purge`); the rows removed per kind.
 */
export async function purgeExpiredData(
  db: SqlTarget,
  keep: DataRetentionConfig,
): Promise<{ kind: string; rows: bigint }[]> {
  const rows = await runOn(
    db,
    sql<{ kind: unknown; rows_removed: unknown }>`select kind, rows_removed::text as rows_removed
      from data_retention_purge(${keep.outboxDays}::int, ${keep.idempotencyKeyDays}::int,
        ${keep.securityEventDays}::int, ${keep.templateUsageLogDays}::int, ${keep.deletedTaskDays}::int)`,
  );
  return rows.map((r) => ({ kind: String(r.kind), rows: BigInt(String(r.rows_removed ?? "0")) }));
}
