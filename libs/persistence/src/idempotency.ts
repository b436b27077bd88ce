/**
 * THE request_id replay of creates: `idempotency_keys` maps (scope, request_id) to the resource the first
 * call created (and, for writes whose answer is more than that resource, a stored response), written in
 * the create's transaction. A retry with the same request_id returns the first result.
 */
import type { EntityManager } from "@mikro-orm/core";
import { newId } from "./ids.js";
import { query, type Row, sql } from "./sql-toolkit.js";

/** What (scope, request id) maps to: the resource id and the stored response (null when none). */
interface IdempotencyKey {
  readonly resourceId: string;
  readonly response: unknown;
}

async function findIdempotencyKey(
  em: EntityManager,
  scope: string,
  requestId: string,
): Promise<IdempotencyKey | null> {
  const rows = await query(
    em,
    sql<Row>`select resource_id, response_json from idempotency_keys
      where scope = ${scope} and request_id = ${requestId}`,
  );
  const id = rows[0]?.resource_id;
  return typeof id === "string" ? { resourceId: id, response: rows[0]?.response_json ?? null } : null;
}

/** The resource id stored for (`scope`, `requestId`), or null. */
export async function findIdempotentResource(
  em: EntityManager,
  scope: string,
  requestId: string,
): Promise<string | null> {
  return (await findIdempotencyKey(em, scope, requestId))?.resourceId ?? null;
}

/**
 * Records (`scope`, `requestId`) -> `resourceId` (and `response`, stored as jsonb, when given) on the
 * current transaction.
 */
export async function storeIdempotentResource(
  em: EntityManager,
  scope: string,
  requestId: string,
  resourceId: string,
  response?: unknown,
): Promise<void> {
  const json = response === undefined ? null : JSON.stringify(response);
  await query(
    em,
    sql`insert into idempotency_keys (id, scope, request_id, resource_id, response_json)
      values (${newId()}, ${scope}, ${requestId}, ${resourceId}, ${json}::jsonb)`,
  );
}

/** One create that a client may retry with the same `request_id`. */
export interface IdempotentCreate<T> {
  /** Names the kind of create (`comment.create`, ...): request ids are unique per scope. */
  readonly scope: string;
  readonly requestId: string | null | undefined;
  /**
   * The first call's result, read back by the id of the resource it created and the response it stored
   * (null when it stored none). Null: gone, create anew.
   */
  readonly replay: (em: EntityManager, resourceId: string, response: unknown) => Promise<T | null>;
  /**
   * Creates inside the transaction; `resourceId` is the created resource (null: nothing was created, e.g.
   * a refused request, which a retry runs again); `response`, when given, is stored with it (as jsonb)
   * and handed to `replay`.
   */
  readonly create: (
    em: EntityManager,
  ) => Promise<{ result: T; resourceId: string | null; response?: unknown }>;
}

async function replayStored<T>(
  em: EntityManager,
  op: IdempotentCreate<T>,
  requestId: string,
): Promise<T | null> {
  const prior = await findIdempotencyKey(em, op.scope, requestId);
  return prior === null ? null : op.replay(em, prior.resourceId, prior.response);
}

/**
 * Runs `op.create` once per (scope, request id): a retry, even a concurrent one, gets the first result.
 * Without a request id it simply creates in a transaction. Concurrent retries are serialised by a
 * transaction-scoped advisory lock on (scope, request id); the loser then replays the winner's result.
 */
export async function createOnce<T>(em: EntityManager, op: IdempotentCreate<T>): Promise<T> {
  const { scope, requestId } = op;
  if (requestId) {
    const replayed = await replayStored(em, op, requestId);
    if (replayed !== null) return replayed;
  }
  return em.transactional(async (tx) => {
    if (requestId) {
      await query(
        tx,
        sql`select pg_advisory_xact_lock(hashtextextended(${`${scope}:${requestId}`}::text, 0))`,
      );
      const replayed = await replayStored(tx, op, requestId);
      if (replayed !== null) return replayed;
    }
    const { result, resourceId, response } = await op.create(tx);
    if (requestId && resourceId !== null) {
      await storeIdempotentResource(tx, scope, requestId, resourceId, response);
    }
    return result;
  });
}

/**
 * The `replay` of a create whose result is the id of the row it inserted into `table` (a table name
 * written in the code): that id while the row exists.
 */
export function replayRowId(table: string): IdempotentCreate<string>["replay"] {
  return async (em, resourceId) => {
    const rows = await query(em, sql<Row>`select 1 from ${sql.ref(table)} where id = ${resourceId}::uuid`);
    return rows.length > 0 ? resourceId : null;
  };
}
