/**
 * Webhook delivery of alert transitions: POSTs the JSON payload to the rule's URL in the background (never
 * blocking evaluation), retrying failures (network errors, timeouts, 408/425/429 and 5xx) with exponential
 * backoff (p-retry) up to `maxAttempts`; other 4xx answers are permanent failures. Progress (PENDING with attempts,
 * then DELIVERED or FAILED) is recorded on the alert row. `stop()` cancels pending retries and waits.
 */
import type { MikroORM } from "@mikro-orm/postgresql";
import { type AlertRow, recordWebhookDelivery } from "@taskmaster/persistence/alert.repository";
import type { Logger } from "@taskmaster/telemetry/logger";
import pRetry, { AbortError } from "p-retry";
import { webhookPayload } from "./alert.mapper.js";

export interface WebhookOptions {
  /** Attempts per transition, including the first (default 5). */
  readonly maxAttempts?: number;
  /** Delay before the first retry; doubles after every failure (default 1 s). */
  readonly baseDelayMs?: number;
  /** Upper bound of one backoff delay (default 60 s). */
  readonly maxDelayMs?: number;
  /** Deadline of one POST (default 5 s). */
  readonly timeoutMs?: number;
}

export interface DeliveryResult {
  readonly delivered: boolean;
  readonly attempts: number;
}

const RETRYABLE = new Set([408, 425, 429]);

export class WebhookNotifier {
  readonly #orm: MikroORM;
  readonly #logger: Logger;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #timeoutMs: number;
  readonly #inFlight = new Set<Promise<DeliveryResult>>();
  readonly #stop = new AbortController();

  constructor(orm: MikroORM, logger: Logger, options: WebhookOptions = {}) {
    this.#orm = orm;
    this.#logger = logger;
    this.#maxAttempts = Math.max(1, Math.trunc(options.maxAttempts ?? 5));
    this.#baseDelayMs = Math.max(0, options.baseDelayMs ?? 1_000);
    this.#maxDelayMs = Math.max(this.#baseDelayMs, options.maxDelayMs ?? 60_000);
    this.#timeoutMs = Math.max(1, options.timeoutMs ?? 5_000);
  }

  /** Start delivering `alert`'s current transition to `url` in the background. */
  notify(url: string, alert: AlertRow, ruleDisplayName: string): Promise<DeliveryResult> {
    const body = JSON.stringify(webhookPayload(alert, ruleDisplayName));
    const p = this.#deliver(url, alert, body).finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
    return p;
  }

  /** Resolves when every delivery started so far has finished. */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Cancel pending retries and wait for in-flight deliveries to settle. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.idle();
  }

  async #deliver(url: string, alert: AlertRow, body: string): Promise<DeliveryResult> {
    let attempts = 0;
    const post = async (attempt: number): Promise<void> => {
      attempts = attempt;
      let res: Response;
      try {
        res = await fetch(url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "user-agent": "taskmaster-monitoring-service",
            "x-taskmaster-alert": alert.id,
            "x-taskmaster-delivery-attempt": String(attempt),
          },
          body,
          redirect: "manual",
          signal: AbortSignal.any([AbortSignal.timeout(this.#timeoutMs), this.#stop.signal]),
        });
      } catch (err) {
        this.#logger.warn(
          { alert: alert.id, attempt, error: err instanceof Error ? err.name : "error" },
          "alert webhook failed",
        );
        // Every failure to reach the webhook is retried (p-retry would give up on a TypeError it does not know).
        throw new Error("webhook not reached");
      }
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return;
      this.#logger.warn({ alert: alert.id, attempt, status: res.status }, "alert webhook refused");
      const refused = new Error(`webhook answered ${res.status}`);
      throw res.status < 500 && !RETRYABLE.has(res.status) ? new AbortError(refused) : refused;
    };
    let delivered = false;
    try {
      await pRetry(post, {
        retries: this.#maxAttempts - 1,
        factor: 2,
        minTimeout: this.#baseDelayMs,
        maxTimeout: this.#maxDelayMs,
        randomize: false,
        signal: this.#stop.signal,
        onFailedAttempt: async ({ retriesLeft }) => {
          if (retriesLeft > 0) await this.#record(alert, "pending", attempts);
        },
      });
      delivered = true;
    } catch {
      // Out of attempts, refused for good, or stopped: recorded as failed below.
    }
    await this.#record(alert, delivered ? "delivered" : "failed", attempts);
    return { delivered, attempts };
  }

  async #record(alert: AlertRow, state: "pending" | "delivered" | "failed", attempts: number): Promise<void> {
    try {
      await recordWebhookDelivery(this.#orm.em.fork(), alert.id, alert.state, state, attempts);
    } catch (err) {
      // Best effort (e.g. the database is down): the delivery itself is what matters.
      this.#logger.warn(
        { alert: alert.id, error: err instanceof Error ? err.message.split("\n")[0] : "error" },
        "could not record webhook delivery",
      );
    }
  }
}
