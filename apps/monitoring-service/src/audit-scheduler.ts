/**
 * Scheduled audit maintenance: every `sealIntervalMs` chain unsealed audit rows (`audit_seal`, in batches);
 * every `retentionIntervalMs` create upcoming monthly partitions (`audit_ensure_partitions`) and drop expired
 * ones (`audit_drop_expired(retentionDays)`). Both run once right after `start()`, then on their interval.
 *
 * Each job is a chain of timeouts (the next run is scheduled when the previous one finished), so a job never
 * overlaps itself. Several replicas may run the same jobs at once: the SQL functions serialise on advisory
 * locks (a second seal finds nothing left; a second retention finds nothing expired). A failed run is logged
 * and counted; the next tick runs as usual. `stop()` cancels pending ticks and waits for runs in flight.
 */
import type { DataRetentionConfig } from "@taskmaster/config/data-retention-config";
import {
  dropExpiredAudit,
  ensureAuditPartitions,
  purgeExpiredData,
  type SqlRunner,
  sealAuditBatch,
} from "@taskmaster/persistence/audit-maintenance.repository";
import type { Logger } from "@taskmaster/telemetry/logger";
import type { ProcessMetrics } from "@taskmaster/telemetry/metrics";

/** A connection for the maintenance statements: runs one statement (its own transaction) and returns its rows. */
export type AuditSql = SqlRunner;

export interface AuditSchedulerOptions {
  readonly logger: Logger;
  /** Connection for `audit_seal` (the application role may execute it). Undefined = sealing off. */
  readonly sealDb: AuditSql | undefined;
  /** Connection for retention (a role in `taskmaster_retention`, or the owner). Undefined = retention off. */
  readonly retentionDb: AuditSql | undefined;
  /** 0 = off. */
  readonly sealIntervalMs: number;
  /** 0 = off. */
  readonly retentionIntervalMs: number;
  readonly retentionDays: number;
  /** Months of partitions kept ready ahead of the current one (default 3). */
  readonly monthsAhead?: number | undefined;
  /** Rows per `audit_seal` call (default 2 000, ~1-2 s measured); a run repeats calls until a batch comes back short. */
  readonly sealBatchRows?: number | undefined;
  /**
   * Retention of outbox events, idempotency keys, security events, template usage logs and soft-deleted
   * tasks (`data_retention_purge`), run with the audit retention on the same connection. Undefined = off.
   */
  readonly dataRetention?: DataRetentionConfig | undefined;
  /** The process's metrics (audit job counters). */
  readonly metrics: ProcessMetrics;
  /** Called after every successful run (tests, status). */
  readonly onRun?: ((outcome: AuditJobOutcome) => void) | undefined;
}

export interface DroppedRange {
  /** `audit_log_pYYYYMM`, or `audit_log_default` for stray expired rows outside any partition. */
  readonly partition: string;
  readonly rows: number;
}

export type AuditJobOutcome =
  | { readonly job: "seal"; readonly sealed: number }
  | {
      readonly job: "retention";
      readonly retentionDays: number;
      readonly createdPartitions: readonly string[];
      readonly dropped: readonly DroppedRange[];
      readonly removedRows: number;
      /** Rows removed per kind by the data retention (empty when it is off). */
      readonly purged: readonly { readonly kind: string; readonly rows: number }[];
    };

type Job = "seal" | "retention";

export class AuditScheduler {
  readonly #o: AuditSchedulerOptions;
  readonly #metrics: ProcessMetrics;
  readonly #timers = new Map<Job, NodeJS.Timeout>();
  readonly #running = new Map<Job, Promise<void>>();
  #started = false;
  #stopped = false;

  constructor(options: AuditSchedulerOptions) {
    this.#o = options;
    this.#metrics = options.metrics;
  }

  /** Which jobs will run (a job is off when its interval is 0 or it has no connection). */
  get enabled(): { readonly seal: boolean; readonly retention: boolean } {
    return {
      seal: this.#o.sealIntervalMs > 0 && this.#o.sealDb !== undefined,
      retention: this.#o.retentionIntervalMs > 0 && this.#o.retentionDb !== undefined,
    };
  }

  /** Ticks scheduled and not yet started (0 after `stop()`). */
  get pendingTicks(): number {
    return this.#timers.size;
  }

  /** Starts both schedules (each job runs at once, then every interval). Idempotent; no-op after stop. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    const on = this.enabled;
    if (on.seal) this.#schedule("seal", 0);
    if (on.retention) this.#schedule("retention", 0);
  }

  /** No new runs; resolves when the runs in flight have finished. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await Promise.all([...this.#running.values()]);
  }

  /** One seal run now (outside the schedule; waits for a scheduled run of the same job in flight). */
  sealNow(): Promise<number> {
    return this.#exclusive("seal", () => this.#seal());
  }

  /** One retention run now (outside the schedule; waits for a scheduled run of the same job in flight). */
  retentionNow(): Promise<Extract<AuditJobOutcome, { job: "retention" }>> {
    return this.#exclusive("retention", () => this.#retention());
  }

  #interval(job: Job): number {
    return job === "seal" ? this.#o.sealIntervalMs : this.#o.retentionIntervalMs;
  }

  #schedule(job: Job, delayMs: number): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timers.delete(job);
      if (this.#stopped) return;
      void this.#tick(job).finally(() => this.#schedule(job, this.#interval(job)));
    }, delayMs);
    // The gRPC server keeps the process alive; a pending tick must not.
    timer.unref();
    this.#timers.set(job, timer);
  }

  async #tick(job: Job): Promise<void> {
    try {
      if (job === "seal") await this.sealNow();
      else await this.retentionNow();
    } catch (err) {
      this.#metrics.auditJobFailures.inc({ job });
      this.#o.logger.error({ err, job: `audit_${job}` }, `scheduled audit ${job} failed`);
    }
  }

  /** Runs `work` when no other run of `job` is in flight (waits for it first): never two at once. */
  async #exclusive<T>(job: Job, work: () => Promise<T>): Promise<T> {
    for (;;) {
      const busy = this.#running.get(job);
      if (busy === undefined) break;
      await busy;
    }
    const run = work();
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#running.set(job, settled);
    try {
      return await run;
    } finally {
      if (this.#running.get(job) === settled) this.#running.delete(job);
    }
  }

  async #seal(): Promise<number> {
    const db = this.#o.sealDb;
    if (db === undefined) throw new Error("audit sealing has no database connection");
    const batch = Math.max(1, Math.trunc(this.#o.sealBatchRows ?? 2_000));
    const started = performance.now();
    let sealed = 0;
    for (;;) {
      const n = await sealAuditBatch(db, batch);
      sealed += n;
      // Counted per batch: a later batch failing does not un-seal the earlier ones.
      if (n > 0) this.#metrics.auditRowsSealed.inc(n);
      // A full batch means more may be waiting; stop() lets the current batch finish, not the backlog.
      if (n < batch || this.#stopped) break;
    }
    const ms = Math.round(performance.now() - started);
    if (sealed > 0) this.#o.logger.info({ job: "audit_seal", sealed, ms }, "audit rows sealed");
    else this.#o.logger.debug({ job: "audit_seal", sealed, ms }, "audit rows sealed");
    const outcome = { job: "seal", sealed } as const;
    this.#o.onRun?.(outcome);
    return sealed;
  }

  async #retention(): Promise<Extract<AuditJobOutcome, { job: "retention" }>> {
    const db = this.#o.retentionDb;
    if (db === undefined) throw new Error("audit retention has no database connection");
    const started = performance.now();
    const monthsAhead = Math.max(0, Math.trunc(this.#o.monthsAhead ?? 3));
    // audit_ensure_partitions takes the retention and seal locks itself (Migration20261126100000_audit_fast_path).
    const created = await ensureAuditPartitions(db, monthsAhead);
    const removed = await dropExpiredAudit(db, this.#o.retentionDays);
    const dropped = removed.map((r) => ({ partition: r.partition, rows: Number(r.rows) }));
    const removedRows = dropped.reduce((sum, d) => sum + d.rows, 0);
    const keep = this.#o.dataRetention;
    const purged =
      keep === undefined
        ? []
        : (await purgeExpiredData(db, keep)).map((r) => ({ kind: r.kind, rows: Number(r.rows) }));
    const outcome = {
      job: "retention",
      retentionDays: this.#o.retentionDays,
      createdPartitions: created,
      dropped,
      removedRows,
      purged,
    } as const;
    if (dropped.length > 0) this.#metrics.auditPartitionsDropped.inc(dropped.length);
    if (removedRows > 0) this.#metrics.auditRowsRemoved.inc(removedRows);
    this.#o.logger.info(
      {
        job: "audit_retention",
        retentionDays: outcome.retentionDays,
        dropped: dropped.map((d) => `${d.partition}:${d.rows}`),
        removedRows,
        created: outcome.createdPartitions,
        purged: purged.map((p) => `${p.kind}:${p.rows}`),
        ms: Math.round(performance.now() - started),
      },
      dropped.length > 0 ? "audit retention removed expired audit rows" : "audit retention: nothing expired",
    );
    this.#o.onRun?.(outcome);
    return outcome;
  }
}
