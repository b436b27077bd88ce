/**
 * THE request_id replay of creates: `idempotency_keys` maps (scope, request_id) to the resource the first
 * call created, written in the create's transaction. A retry with the same request_id returns that resource.
 */
import type { EntityManager } from "@mikro-orm/core";
import { newId } from "./ids.js";
import { query, type Row, sql } from "./sql-toolkit.js";

/** The resource id stored for (`scope`, `requestId`), or null. */
export async function findIdempotentResource(
  em: EntityManager,
  scope: string,
  requestId: string,
): Promise<string | null> {
  const rows = await query(
    em,
    sql<Row>`select resource_id from idempotency_keys where scope = ${scope} and request_id = ${requestId}`,
  );
  const id = rows[0]?.resource_id;
  return typeof id === "string" ? id : null;
}

/** Records (`scope`, `requestId`) -> `resourceId` on the current transaction. */
export async function storeIdempotentResource(
  em: EntityManager,
  scope: string,
  requestId: string,
  resourceId: string,
): Promise<void> {
  await query(
    em,
    sql<Row>`insert into idempotency_keys (id, scope, request_id, resource_id)
      values (${newId()}, ${scope}, ${requestId}, ${resourceId})`,
  );
}

/** One create that a client may retry with the same `request_id`. */
export interface IdempotentCreate<T> {
  /** Names the kind of create (`comment.create`, ...): request ids are unique per scope. */
  readonly scope: string;
  readonly requestId: string | null | undefined;
  /** The first call's result, read back by the id of the resource it created (null: gone, create anew). */
  readonly replay: (em: EntityManager, resourceId: string) => Promise<T | null>;
  /**
   * Creates inside the transaction; `resourceId` is the created resource (null: nothing was created, e.g.
   * a refused request, which a retry runs again).
   */
  readonly create: (em: EntityManager) => Promise<{ result: T; resourceId: string | null }>;
}

/**
 * Runs `op.create` once per (scope, request id): a retry, even a concurrent one, gets the first result.
 * Without a request id it simply creates in a transaction. Concurrent retries are serialised by a
 * transaction-scoped advisory lock on (scope, request id); the loser then replays the winner's result.
 */
export async function createOnce<T>(em: EntityManager, op: IdempotentCreate<T>): Promise<T> {
  const { scope, requestId } = op;
  if (requestId) {
    const prior = await findIdempotentResource(em, scope, requestId);
    const replayed = prior === null ? null : await op.replay(em, prior);
    if (replayed !== null) return replayed;
  }
  return em.transactional(async (tx) => {
    if (requestId) {
      await query(
        tx,
        sql<Row>`select pg_advisory_xact_lock(hashtextextended(${`${scope}:${requestId}`}::text, 0))`,
      );
      const prior = await findIdempotentResource(tx, scope, requestId);
      const replayed = prior === null ? null : await op.replay(tx, prior);
      if (replayed !== null) return replayed;
    }
    const { result, resourceId } = await op.create(tx);
    if (requestId && resourceId !== null) await storeIdempotentResource(tx, scope, requestId, resourceId);
    return result;
  });
}
