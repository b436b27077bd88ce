/**
 * Alerting of the monitoring service as one unit: the WatchAlerts hub, the webhook notifier, the evaluator
 * and the RPC handlers. `createServer` starts it with the server and stops it on shutdown, in order:
 * evaluator (waits for a round in progress) -> webhook retries -> WatchAlerts streams.
 */
import type { MikroORM } from "@mikro-orm/postgresql";
import type { PoolTracker } from "@taskmaster/persistence/monitoring-pool";
import type { Logger } from "@taskmaster/telemetry/logger";
import type { ProcessMetrics } from "@taskmaster/telemetry/metrics";
import { createAlertHandlers } from "./alert.handlers.js";
import { AlertEvaluator, type AlertEvaluatorOptions, AlertHub } from "./alert-evaluator.js";
import { WebhookNotifier, type WebhookOptions } from "./alert-webhook.js";
import type { HealthMonitor } from "./health-monitor.js";

export interface AlertingOptions {
  /** Evaluation tick (default 5 s). */
  readonly evaluationIntervalMs?: number;
  /** Clock of the evaluator (tests). */
  readonly clock?: () => Date;
  /** RPC metrics for ERROR_RATE (default: the server's own, `AlertRuntimeDeps.metrics`). */
  readonly metrics?: ProcessMetrics;
  /** Webhook retry settings. */
  readonly webhook?: WebhookOptions;
  /** Accept http:// webhook URLs (default: in the development and test profiles only). */
  readonly allowHttpWebhooks?: boolean;
  /** Do not evaluate periodically (tests drive `evaluateOnce()`). */
  readonly manual?: boolean;
  /** Receives the runtime once built (tests). */
  readonly onCreated?: (runtime: AlertRuntime) => void;
}

export interface AlertRuntimeDeps {
  readonly orm: MikroORM;
  readonly logger: Logger;
  readonly monitor: HealthMonitor;
  readonly pool: () => Promise<PoolTracker>;
  readonly service: string;
  readonly profile: string;
  readonly dbTimeoutMs: number;
  /** The server's metrics (its RPC counts feed ERROR_RATE). */
  readonly metrics: ProcessMetrics;
  readonly options?: AlertingOptions | undefined;
  /** The other processes' pools and RPC counts, for POOL_SATURATION and ERROR_RATE. */
  readonly readServices?: AlertEvaluatorOptions["readServices"];
}

export class AlertRuntime {
  readonly hub = new AlertHub();
  readonly notifier: WebhookNotifier;
  readonly evaluator: AlertEvaluator;
  readonly handlers: ReturnType<typeof createAlertHandlers>;
  readonly #manual: boolean;

  constructor(deps: AlertRuntimeDeps) {
    const o = deps.options ?? {};
    this.#manual = o.manual === true;
    this.notifier = new WebhookNotifier(deps.orm, deps.logger, o.webhook);
    this.evaluator = new AlertEvaluator({
      orm: deps.orm,
      logger: deps.logger,
      monitor: deps.monitor,
      pool: deps.pool,
      hub: this.hub,
      notifier: this.notifier,
      service: deps.service,
      metrics: o.metrics ?? deps.metrics,
      readServices: deps.readServices,
      intervalMs: o.evaluationIntervalMs,
      clock: o.clock,
    });
    this.handlers = createAlertHandlers({
      orm: deps.orm,
      hub: this.hub,
      dbTimeoutMs: deps.dbTimeoutMs,
      validation: {
        allowHttpWebhooks: o.allowHttpWebhooks ?? (deps.profile === "development" || deps.profile === "test"),
      },
    });
    o.onCreated?.(this);
  }

  start(): void {
    if (!this.#manual) this.evaluator.start();
  }

  /** Stop evaluating, cancel webhook retries, end WatchAlerts streams. */
  async stop(): Promise<void> {
    await this.evaluator.stop();
    this.hub.close();
  }
}
