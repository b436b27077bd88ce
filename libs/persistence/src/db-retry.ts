/**
 * Retry with exponential backoff and jitter (`DB_RETRY_*`) for connecting and for WHOLE transactions:
 *
 * - a transaction is run again only when PostgreSQL rolled it back for us (40001 serialization failure,
 *   40P01 deadlock) or the connection failed BEFORE the commit was sent (nothing committed); a connection
 *   lost while committing is ambiguous and never replayed, nor is a single statement outside a transaction;
 * - only the outermost `em.transactional` retries (a nested one is a savepoint of the outer attempt);
 * - the attempts are bounded by `attempts`, and the whole by `budgetMs` and by the deadline of the RPC the
 *   transaction runs for (the call's audit context carries it, audit-context.subscriber.ts): no retry
 *   starts when its delay would end past either; the caller would no longer be waiting for the answer.
 */
import { EntityManager as PostgreSqlEntityManager } from "@mikro-orm/postgresql";
import { auditContextStorage } from "./audit-context.subscriber.js";
import { classifyDatabaseError, sqlStateOf } from "./db-errors.js";

export interface RetryPolicy {
  /** Tries in all (1 = no retry). */
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly factor: number;
  readonly maxDelayMs: number;
  /** No retry starts past this time since the first try (default 30 s, the default RPC deadline). */
  readonly budgetMs?: number | undefined;
}

/** Delay before retry number `retry` (1-based): exponential, capped, with "equal jitter" (half fixed, half random). */
export function backoffDelayMs(
  policy: RetryPolicy,
  retry: number,
  random: () => number = Math.random,
): number {
  const exp = policy.initialDelayMs * policy.factor ** Math.max(0, retry - 1);
  const capped = Math.min(policy.maxDelayMs, exp);
  return Math.round(capped / 2 + random() * (capped / 2));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `work` until it succeeds, `isRetryable(error)` is false, the attempts are spent, or the budget or
 * `deadline` (epoch ms, e.g. the RPC's) would be exceeded. `onRetry` sees each retried error (logs, tests).
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  work: (attempt: number) => Promise<T>,
  isRetryable: (error: unknown) => boolean,
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void,
  deadline: number = Number.POSITIVE_INFINITY,
): Promise<T> {
  const started = Date.now();
  const end = Math.min(started + (policy.budgetMs ?? 30_000), deadline);
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (error) {
      if (attempt >= policy.attempts || !isRetryable(error)) throw error;
      const delay = backoffDelayMs(policy, attempt);
      if (Date.now() + delay > end) throw error;
      onRetry?.(error, attempt, delay);
      await sleep(delay);
    }
  }
}

/** A transient error while connecting (the database is starting, restarting or unreachable). */
export function isRetryableConnectError(error: unknown): boolean {
  return classifyDatabaseError(error) === "transient";
}

/** Rolled back by PostgreSQL: serialization failure or deadlock. */
function rolledBackByServer(error: unknown): boolean {
  const code = sqlStateOf(error);
  return code === "40001" || code === "40P01";
}

/** What the retrying entity manager reports (tests count retries through it). */
export interface TransactionRetryEvents {
  onRetry?(error: unknown, attempt: number, delayMs: number): void;
}

/**
 * An entity manager class whose outermost `transactional` runs the whole transaction again on 40001 /
 * 40P01, and on a connection error raised before the commit was sent. Pass as MikroORM's `entityManager`.
 */
export function retryingEntityManager(
  policy: RetryPolicy,
  events: TransactionRetryEvents = {},
): typeof PostgreSqlEntityManager {
  class RetryingEntityManager extends PostgreSqlEntityManager {
    override async transactional<T>(
      cb: (em: this) => T | Promise<T>,
      options: Parameters<PostgreSqlEntityManager["transactional"]>[1] = {},
    ): Promise<T> {
      const nested =
        this.getContext(false).getTransactionContext() !== undefined ||
        (options as { ctx?: unknown } | undefined)?.ctx !== undefined;
      if (nested || policy.attempts <= 1) return super.transactional(cb, options);
      let committing = false;
      return withRetry(
        policy,
        () => {
          committing = false;
          return super.transactional(async (em: this) => {
            const result = await cb(em);
            committing = true;
            return result;
          }, options);
        },
        (error) => rolledBackByServer(error) || (!committing && classifyDatabaseError(error) === "transient"),
        events.onRetry,
        auditContextStorage().getStore()?.deadline,
      );
    }
  }
  return RetryingEntityManager as unknown as typeof PostgreSqlEntityManager;
}
