/**
 * Bounded read-only database work that never leaves a query running on a pooled connection. The work runs
 * on one connection of the ORM's `pg` pool inside `begin read only; set local statement_timeout = <rest>`,
 * so PostgreSQL itself cancels a slow statement at the deadline and the connection comes back usable. A
 * connection that has not answered even that cancellation `graceMs` after the deadline (a frozen server, a
 * network path that stopped forwarding) is destroyed, not returned to the pool: it must not hold a pool slot
 * for ever nor be handed to the next caller, who would wait behind its dead query.
 *
 * The caller's answer is bounded by `timeoutMs` (it rejects with {@link DatabaseTimeoutError}); a wait for a
 * free connection counts against the same deadline, and a connection acquired after it is released unused.
 */
import type { EntityManager } from "@mikro-orm/core";
import type { ClientBase, PoolClient } from "pg";
import { sqlStateOf } from "./db-errors.js";
import { nativePool } from "./native-pool.js";
import { compile, query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";

/** Runs one statement (a Kysely `sql` template, see sql-toolkit.ts) and returns its rows. */
export type SqlRunner = <R = Row>(statement: RawBuilder<R>) => Promise<R[]>;

/** Where a statement runs: a manager's connection (and its current transaction), or a {@link SqlRunner}. */
export type SqlTarget = EntityManager | SqlRunner;

/** Runs `statement` on `target`; its rows. */
export function runOn<R = Row>(target: SqlTarget, statement: RawBuilder<R>): Promise<R[]> {
  return typeof target === "function" ? target(statement) : query(target, statement);
}

/** A {@link SqlRunner} on one `pg` client (or pool), statements compiled with `em`'s Kysely. */
export function clientRunner(em: EntityManager, client: Pick<ClientBase, "query">): SqlRunner {
  return async <R>(statement: RawBuilder<R>) => {
    const compiled = compile(em, statement);
    return (await client.query(compiled.sql, compiled.parameters as unknown[])).rows as R[];
  };
}

export class DatabaseTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`database did not answer within ${timeoutMs} ms`);
    this.name = "DatabaseTimeoutError";
  }
}

/** Default grace after the deadline for the server's cancellation to arrive before the connection is destroyed. */
const DEFAULT_GRACE_MS = 1_000;

/**
 * Runs `work` with a {@link SqlRunner} on a connection of `em`'s pool, bounded by `timeoutMs` (see the file
 * comment). Read-only: the transaction is `read only`.
 */
export async function boundedRead<T>(
  em: EntityManager,
  timeoutMs: number,
  work: (sql: SqlRunner) => Promise<T>,
  graceMs = DEFAULT_GRACE_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const pool = await nativePool(em);
  let expired = false;
  let client: PoolClient | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  // Back to the pool (no error) or destroyed (pg-pool ends a client released with an error; pg destroys
  // the socket of a client ended with a query still active).
  const giveBack = (error?: Error) => {
    const c = client;
    client = undefined;
    clearTimeout(graceTimer);
    c?.release(error);
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      reject(new DatabaseTimeoutError(timeoutMs));
      if (client !== undefined) {
        graceTimer = setTimeout(() => giveBack(new DatabaseTimeoutError(timeoutMs + graceMs)), graceMs);
      }
    }, timeoutMs);
  });
  const run = (async () => {
    const acquired = await pool.connect();
    const left = Math.ceil(deadline - Date.now());
    if (expired || left < 1) {
      acquired.release();
      throw new DatabaseTimeoutError(timeoutMs);
    }
    client = acquired;
    try {
      await acquired.query(`begin read only; set local statement_timeout = ${left}`);
      const result = await work(clientRunner(em, acquired));
      await acquired.query("commit");
      if (client === acquired) giveBack();
      return result;
    } catch (error) {
      if (client === acquired) {
        // A live connection (e.g. the statement cancelled by statement_timeout) is rolled back and reused.
        try {
          await acquired.query("rollback");
          if (client === acquired) giveBack();
        } catch (rollbackError) {
          if (client === acquired)
            giveBack(rollbackError instanceof Error ? rollbackError : new Error("rollback"));
        }
      }
      throw error;
    }
  })();
  run.catch(() => {});
  try {
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * ORM work (repository functions taking an EntityManager, reads and writes) bounded by `timeoutMs` without
 * leaving anything running: one transaction whose first statement sets the transaction-local
 * `statement_timeout` to the rest of the deadline (`set_config('statement_timeout', <rest>, true)`), so
 * PostgreSQL itself cancels a statement still running at the deadline (57014) and the transaction is rolled
 * back, its connection back in the pool usable; that cancellation rejects with {@link DatabaseTimeoutError}.
 * A server that answers nothing at all (frozen, a network path that stopped forwarding) cannot cancel: the
 * caller's answer is then bounded by `timeoutMs + graceMs`, and the connection is the pool's until the server
 * answers again (its statement timeout has passed by then).
 */
export async function boundedTransaction<T, E extends EntityManager>(
  em: E,
  timeoutMs: number,
  work: (tx: E) => Promise<T>,
  graceMs = DEFAULT_GRACE_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const run = (em.fork() as E).transactional(async (tx) => {
    const left = Math.ceil(deadline - Date.now());
    if (left < 1) throw new DatabaseTimeoutError(timeoutMs);
    await query(tx, sql`select set_config('statement_timeout', ${String(left)}::text, true)`);
    return work(tx as E);
  });
  let timer: NodeJS.Timeout | undefined;
  const unanswered = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseTimeoutError(timeoutMs)), timeoutMs + graceMs);
  });
  run.catch(() => {});
  try {
    return await Promise.race([run, unanswered]);
  } catch (error) {
    if (sqlStateOf(error) === "57014") throw new DatabaseTimeoutError(timeoutMs);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
