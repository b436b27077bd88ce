/**
 * Periodic evaluation of the enabled alert rules (every `intervalMs`, each rule at most once per its own
 * evaluation interval, by the injectable clock):
 * - SLOW_QUERY: the slowest statement's mean_exec_time of this database (pg_stat_statements) over the
 *   threshold (0 = 1000 ms); no data when the extension is unavailable;
 * - POOL_SATURATION: the fullest pool (in_use / max_size) of the matching processes: this one and every
 *   other service whose /metrics answers (`readServices`);
 * - ERROR_RATE: server-side failures / all RPCs (rpc_server_requests_total) of this process and the other
 *   services' processes, since the rule's previous evaluation;
 * - DATABASE_DOWN / COMPONENT_DOWN: NOT_SERVING in the HealthMonitor (UNKNOWN is no data);
 * - BACKUP_STALE: hours since the newest backup that passed a restore test (`backup_restore_tests`) over the
 *   threshold (0 = 26 h); RESTORE_TEST_FAILED: the newest restore test failed. No data before the first test.
 * A condition holding for `for_duration` fires an alert; a firing alert resolves when it no longer holds or
 * its rule is deleted or disabled. Transitions are recorded (the partial unique index keeps one firing alert
 * per rule), published to WatchAlerts subscribers and posted to the rule's webhook in the background. When
 * the database cannot be written (e.g. it is down), transitions are still announced and their writes are
 * retried, in order, on later rounds.
 */
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  type AlertRow,
  type AlertRuleRow,
  type FireInput,
  fireAlert,
  firingAlertOfRule,
  listEnabledAlertRules,
  listFiringAlerts,
  resolveAlert,
  slowestStatement,
  type WebhookDeliveryValue,
} from "@taskmaster/persistence/alert.repository";
import {
  newestRestoreTest,
  newestVerifiedBackupTime,
} from "@taskmaster/persistence/backup-restore-test.repository";
import { newId } from "@taskmaster/persistence/ids";
import { pgStatStatementsAvailable } from "@taskmaster/persistence/monitoring.repository";
import type { PoolTracker } from "@taskmaster/persistence/monitoring-pool";
import { ComponentKind, HealthStatus } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/health_pb";
import type { Logger } from "@taskmaster/telemetry/logger";
import type { ProcessMetrics } from "@taskmaster/telemetry/metrics";
import { DEFAULT_SLOW_QUERY_THRESHOLD_MS } from "./alert.validation.js";
import type { WebhookNotifier } from "./alert-webhook.js";
import { DATABASE_COMPONENT, type HealthMonitor } from "./health-monitor.js";
import type { ServiceMetricsResult } from "./service-metrics.reader.js";

/** gRPC codes that count as server-side failures for ERROR_RATE. */
export const SERVER_ERROR_CODES = new Set([
  "UNKNOWN",
  "DEADLINE_EXCEEDED",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
]);

type Listener = (alert: AlertRow) => void;

/** Fan-out of alert transitions to WatchAlerts streams; `close()` ends them (shutdown). */
export class AlertHub {
  readonly #listeners = new Set<Listener>();
  readonly #closeListeners = new Set<() => void>();
  #closed = false;

  get closed(): boolean {
    return this.#closed;
  }

  /** Number of open subscriptions (WatchAlerts streams). */
  get subscribers(): number {
    return this.#listeners.size;
  }

  subscribe(listener: Listener, onClose: () => void): () => void {
    this.#listeners.add(listener);
    this.#closeListeners.add(onClose);
    return () => {
      this.#listeners.delete(listener);
      this.#closeListeners.delete(onClose);
    };
  }

  publish(alert: AlertRow): void {
    for (const l of this.#listeners) l(alert);
  }

  close(): void {
    this.#closed = true;
    for (const l of this.#closeListeners) l();
  }
}

export interface AlertEvaluatorOptions {
  readonly orm: MikroORM;
  readonly logger: Logger;
  readonly monitor: HealthMonitor;
  readonly pool: () => Promise<PoolTracker>;
  readonly hub: AlertHub;
  readonly notifier: WebhookNotifier;
  /** This process's service name (e.g. "monitoring-service"). */
  readonly service: string;
  /** RPC metrics read for ERROR_RATE (the server's own). */
  readonly metrics: ProcessMetrics;
  /** The other processes' pools and RPC counts (service-metrics.reader.ts): the rules watch every process. */
  readonly readServices?: (() => Promise<ServiceMetricsResult[]>) | undefined;
  /** Evaluation tick (default 5 s, the smallest rule interval). */
  readonly intervalMs?: number | undefined;
  /** Clock (tests). */
  readonly clock?: (() => Date) | undefined;
}

interface Measurement {
  readonly holds: boolean;
  readonly value: number;
  readonly summary: string;
}

interface RuleState {
  lastEvaluated: number | undefined;
  pendingSince: number | undefined;
  firing: AlertRow | undefined;
  rule: AlertRuleRow | undefined;
  errorBaseline: Map<string, number> | undefined;
}

type Write =
  | { kind: "fire"; input: FireInput }
  | { kind: "resolve"; ruleId: string; at: Date; delivery: WebhookDeliveryValue };

/** Whether a rule's `service` names `target` (a service name like "task-service" or a gRPC service name). */
export function serviceMatches(service: string, target: string): boolean {
  if (service === "" || service === target) return true;
  const stem = service.replace(/-service$/, "").toLowerCase();
  return /^[a-z0-9]+$/.test(stem) && target.toLowerCase().startsWith(`taskmaster.${stem}.`);
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]?.slice(0, 200) ?? "";
}

const fmt = (n: number, digits = 3) => Number(n.toFixed(digits)).toString();

/** BACKUP_STALE threshold when a rule leaves it 0: a daily schedule plus two hours of slack. */
export const DEFAULT_BACKUP_STALE_HOURS = 26;

export class AlertEvaluator {
  readonly #o: AlertEvaluatorOptions;
  readonly #metrics: ProcessMetrics;
  readonly #readServices: (() => Promise<ServiceMetricsResult[]>) | undefined;
  /** The other processes' figures, read at most once per evaluation round (see #round). */
  #remoteRound: Promise<ServiceMetricsResult[]> | undefined;

  #remote(): Promise<ServiceMetricsResult[]> {
    if (this.#readServices === undefined) return Promise.resolve([]);
    this.#remoteRound ??= this.#readServices();
    return this.#remoteRound;
  }
  readonly #clock: () => Date;
  readonly #intervalMs: number;
  readonly #states = new Map<string, RuleState>();
  readonly #unsaved: Write[] = [];
  #loaded = false;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #round: Promise<void> | undefined;

  constructor(options: AlertEvaluatorOptions) {
    this.#o = options;
    this.#metrics = options.metrics;
    this.#readServices = options.readServices;
    this.#clock = options.clock ?? (() => new Date());
    this.#intervalMs = options.intervalMs ?? 5_000;
  }

  /** Evaluate periodically until {@link stop}. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const tick = () => {
      void this.evaluateOnce().finally(() => {
        if (this.#running) this.#timer = setTimeout(tick, this.#intervalMs).unref();
      });
    };
    this.#timer = setTimeout(tick, this.#intervalMs).unref();
  }

  /** Stop evaluating: waits for a round in progress, then cancels pending webhook retries. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round;
    await this.#o.notifier.stop();
  }

  /** One evaluation round of every due rule (concurrent calls share the round). Never throws. */
  evaluateOnce(): Promise<void> {
    this.#round ??= this.#evaluate()
      .catch((err: unknown) => this.#o.logger.error({ error: errorText(err) }, "alert evaluation failed"))
      .finally(() => {
        this.#round = undefined;
      });
    return this.#round;
  }

  /** Number of transition writes waiting for the database. */
  unsavedWrites(): number {
    return this.#unsaved.length;
  }

  #state(ruleId: string): RuleState {
    let s = this.#states.get(ruleId);
    if (s === undefined) {
      s = {
        lastEvaluated: undefined,
        pendingSince: undefined,
        firing: undefined,
        rule: undefined,
        errorBaseline: undefined,
      };
      this.#states.set(ruleId, s);
    }
    return s;
  }

  async #evaluate(): Promise<void> {
    const em = () => this.#o.orm.em.fork();
    this.#remoteRound = undefined;
    await this.#flush();
    let rules: AlertRuleRow[] | undefined;
    try {
      rules = await listEnabledAlertRules(em());
      if (!this.#loaded) {
        for (const a of await listFiringAlerts(em())) this.#state(a.ruleId).firing = a;
        this.#loaded = true;
      }
    } catch (err) {
      this.#o.logger.warn({ error: errorText(err) }, "alert rules unavailable; evaluating the known ones");
      rules = undefined;
    }
    const current = rules ?? [...this.#states.values()].flatMap((s) => (s.rule ? [s.rule] : []));
    const now = this.#clock();
    for (const rule of current) {
      const state = this.#state(rule.id);
      state.rule = rule;
      if (
        state.lastEvaluated !== undefined &&
        now.getTime() - state.lastEvaluated < rule.evaluationIntervalMs
      ) {
        continue;
      }
      state.lastEvaluated = now.getTime();
      let m: Measurement | undefined;
      try {
        m = await this.#measure(rule, state);
      } catch (err) {
        this.#o.logger.warn({ rule: rule.id, error: errorText(err) }, "alert rule could not be measured");
      }
      if (m === undefined) continue;
      await this.#transition(rule, state, m, now);
    }
    if (rules === undefined) return;
    // Rules deleted or disabled while firing resolve.
    const live = new Set(rules.map((r) => r.id));
    for (const [ruleId, state] of this.#states) {
      if (live.has(ruleId)) continue;
      if (state.firing !== undefined) await this.#resolve(ruleId, state, now, state.rule);
      this.#states.delete(ruleId);
    }
  }

  async #transition(rule: AlertRuleRow, state: RuleState, m: Measurement, now: Date): Promise<void> {
    if (!m.holds) {
      state.pendingSince = undefined;
      if (state.firing !== undefined) await this.#resolve(rule.id, state, now, rule);
      return;
    }
    if (state.firing !== undefined) return;
    state.pendingSince ??= now.getTime();
    if (now.getTime() - state.pendingSince < rule.forDurationMs) return;
    const input: FireInput = {
      id: newId(),
      ruleId: rule.id,
      severity: rule.severity,
      condition: rule.condition,
      service: rule.service,
      summary: Array.from(`${rule.displayName}: ${m.summary}`).slice(0, 1000).join(""),
      observedValue: m.value,
      threshold: rule.threshold,
      fireTime: now,
      webhookDeliveryState: rule.webhookUrl ? "pending" : "not_configured",
    };
    let row: AlertRow | null | undefined;
    try {
      row = await this.#write({ kind: "fire", input });
    } catch {
      row = undefined;
    }
    if (row === null) {
      // Another evaluator recorded it first: adopt that alert without announcing it again.
      state.firing = (await firingAlertOfRule(this.#o.orm.em.fork(), rule.id).catch(() => null)) ?? undefined;
      return;
    }
    const alert: AlertRow = row ?? {
      ...input,
      state: "firing",
      resolveTime: null,
      webhookAttempts: 0,
    };
    state.firing = alert;
    this.#announce(alert, rule);
  }

  async #resolve(ruleId: string, state: RuleState, now: Date, rule: AlertRuleRow | undefined): Promise<void> {
    const firing = state.firing;
    if (firing === undefined) return;
    state.firing = undefined;
    state.pendingSince = undefined;
    const delivery: WebhookDeliveryValue = rule?.webhookUrl ? "pending" : "not_configured";
    let row: AlertRow | null | undefined;
    try {
      row = await this.#write({ kind: "resolve", ruleId, at: now, delivery });
    } catch {
      row = undefined;
    }
    const alert: AlertRow = row ?? {
      ...firing,
      state: "resolved",
      resolveTime: now.getTime() < firing.fireTime.getTime() ? firing.fireTime : now,
      webhookDeliveryState: delivery,
      webhookAttempts: 0,
    };
    this.#announce(alert, rule);
  }

  #announce(alert: AlertRow, rule: AlertRuleRow | undefined): void {
    this.#o.logger.info(
      { alert: alert.id, rule: alert.ruleId, state: alert.state, value: alert.observedValue },
      `alert ${alert.state}`,
    );
    this.#o.hub.publish(alert);
    if (rule?.webhookUrl) void this.#o.notifier.notify(rule.webhookUrl, alert, rule.displayName);
  }

  /**
   * Performs a transition write, or queues it (returning undefined) when earlier writes are still waiting or
   * the database fails.
   */
  async #write(w: Write): Promise<AlertRow | null | undefined> {
    if (this.#unsaved.length > 0) {
      this.#unsaved.push(w);
      return undefined;
    }
    try {
      return await this.#apply(w);
    } catch (err) {
      this.#o.logger.warn({ error: errorText(err) }, "alert transition not recorded yet; will retry");
      this.#unsaved.push(w);
      return undefined;
    }
  }

  #apply(w: Write): Promise<AlertRow | null> {
    const em = this.#o.orm.em.fork();
    return w.kind === "fire" ? fireAlert(em, w.input) : resolveAlert(em, w.ruleId, w.at, w.delivery);
  }

  async #flush(): Promise<void> {
    while (this.#unsaved.length > 0) {
      const w = this.#unsaved[0] as Write;
      try {
        await this.#apply(w);
      } catch (err) {
        this.#o.logger.warn({ error: errorText(err) }, "alert transitions still not recorded");
        return;
      }
      this.#unsaved.shift();
    }
  }

  async #measure(rule: AlertRuleRow, state: RuleState): Promise<Measurement | undefined> {
    switch (rule.condition) {
      case "slow_query": {
        const em = this.#o.orm.em.fork();
        if (!(await pgStatStatementsAvailable(em))) return undefined;
        const threshold = rule.threshold > 0 ? rule.threshold : DEFAULT_SLOW_QUERY_THRESHOLD_MS;
        const slowest = await slowestStatement(em);
        const value = slowest?.meanMs ?? 0;
        return {
          holds: value > threshold,
          value,
          summary: `slowest statement (query id ${slowest?.queryId ?? "-"}) has mean execution time ${fmt(value)} ms (threshold ${fmt(threshold)} ms)`,
        };
      }
      case "pool_saturation": {
        const candidates: { service: string; inUse: number; max: number; pool: string }[] = [];
        if (serviceMatches(rule.service, this.#o.service)) {
          const snap = (await this.#o.pool()).snapshot();
          candidates.push({ service: this.#o.service, inUse: snap.inUse, max: snap.max, pool: snap.pool });
        }
        for (const r of await this.#remote()) {
          if (!r.ok || !serviceMatches(rule.service, r.service)) continue;
          for (const p of r.pools)
            candidates.push({ service: r.service, inUse: p.inUse, max: p.max, pool: p.pool });
        }
        if (candidates.length === 0) return undefined;
        const ratio = (c: (typeof candidates)[number]) => (c.max > 0 ? c.inUse / c.max : 0);
        const worst = candidates.reduce((a, b) => (ratio(b) > ratio(a) ? b : a));
        const value = ratio(worst);
        return {
          holds: value > rule.threshold,
          value,
          summary: `pool "${worst.pool}" of ${worst.service} uses ${worst.inUse} of ${worst.max} connections (${fmt(value * 100, 1)}%, threshold ${fmt(rule.threshold * 100, 1)}%)`,
        };
      }
      case "error_rate": {
        const { values } = await this.#metrics.rpcRequests.get();
        const sources: { from: string; labels: Readonly<Record<string, string | number>>; value: number }[] =
          values.map((v) => ({ from: this.#o.service, labels: v.labels, value: v.value }));
        for (const r of await this.#remote()) {
          if (r.ok)
            for (const v of r.rpc) sources.push({ from: r.service, labels: v.labels, value: v.value });
        }
        const baseline = state.errorBaseline ?? new Map<string, number>();
        const next = new Map<string, number>();
        let total = 0;
        let errors = 0;
        for (const v of sources) {
          const svc = String(v.labels.service ?? "");
          if (!(serviceMatches(rule.service, svc) || rule.service === v.from)) continue;
          const key = `${v.from}\u0000${svc}\u0000${String(v.labels.method ?? "")}\u0000${String(v.labels.code ?? "")}`;
          next.set(key, v.value);
          const delta = Math.max(0, v.value - (baseline.get(key) ?? 0));
          total += delta;
          if (SERVER_ERROR_CODES.has(String(v.labels.code ?? ""))) errors += delta;
        }
        state.errorBaseline = next;
        const value = total === 0 ? 0 : errors / total;
        return {
          holds: value > rule.threshold,
          value,
          summary: `${errors} of ${total} RPCs failed with server-side codes (${fmt(value * 100, 1)}%, threshold ${fmt(rule.threshold * 100, 1)}%)`,
        };
      }
      case "database_down": {
        const db = this.#o.monitor.snapshot().components.find((c) => c.component === DATABASE_COMPONENT);
        if (db === undefined || db.status === HealthStatus.UNKNOWN) return undefined;
        const down = db.status === HealthStatus.NOT_SERVING;
        return {
          holds: down,
          value: down ? 1 : 0,
          summary: down ? `the database is NOT_SERVING: ${db.message}` : "the database is serving",
        };
      }
      case "component_down": {
        const comps = this.#o.monitor
          .snapshot()
          .components.filter(
            (c) =>
              c.kind !== ComponentKind.DATABASE &&
              c.status !== HealthStatus.UNKNOWN &&
              serviceMatches(rule.service, c.component),
          );
        if (comps.length === 0) return undefined;
        const down = comps.filter((c) => c.status === HealthStatus.NOT_SERVING);
        return {
          holds: down.length > 0,
          value: down.length,
          summary:
            down.length > 0
              ? `NOT_SERVING: ${down.map((c) => `${c.component} (${c.message})`).join(", ")}`
              : "every component is serving",
        };
      }
      case "backup_stale": {
        const newest = await newestVerifiedBackupTime(this.#o.orm.em.fork());
        if (newest === null) return undefined;
        const hours = rule.threshold > 0 ? rule.threshold : DEFAULT_BACKUP_STALE_HOURS;
        const value = (this.#clock().getTime() - newest.getTime()) / 3_600_000;
        return {
          holds: value > hours,
          value,
          summary: `the newest verified backup (${newest.toISOString()}) is ${fmt(value, 1)} h old (threshold ${fmt(hours, 1)} h)`,
        };
      }
      case "restore_test_failed": {
        const last = await newestRestoreTest(this.#o.orm.em.fork());
        if (last === null) return undefined;
        return {
          holds: !last.ok,
          value: last.ok ? 0 : 1,
          summary: last.ok
            ? `the restore test of backup ${last.backupId} passed`
            : `the restore test of backup ${last.backupId} failed: ${last.problems.split("\n")[0] ?? ""}`,
        };
      }
    }
  }
}
