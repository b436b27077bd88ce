/**
 * THE way SQL is written and run in this project. Every statement is a Kysely `sql` template
 * (`sql\`select ... where id = ${id}\``): values are always bind parameters (never text in the statement),
 * identifiers and declared column lists enter through `sql.ref` / `sql.raw` of constants, and fragments
 * compose with `sql.join`. It runs one of three ways:
 *
 * - {@link query}: on the manager's Kysely (`em.getKysely()`), which is bound to the manager's current
 *   transaction, so a repository call inside `em.transactional` takes part in it.
 * - {@link prepared}: as a named prepared statement on the pool, for the measured hot paths outside a
 *   transaction (about 1.6x on point reads: PostgreSQL parses and plans it once per connection).
 * - bounded-read.ts's runner, for reads that must never outlive their deadline.
 *
 * Also the task row read shared by the task repositories. Filter conditions are rendered by filter-sql.ts.
 */
import type { EntityManager } from "@mikro-orm/core";
import type { EntityManager as SqlEntityManager } from "@mikro-orm/postgresql";
import { type CompiledQuery, type Kysely, type RawBuilder, sql } from "kysely";
import { preparedQuery } from "./native-pool.js";
import { TASK_SELECT_LIST, taskRowFromDb } from "./task-columns.js";
import type { TaskRow } from "./task-model.js";

export { type RawBuilder, sql } from "kysely";

export type Row = Record<string, unknown>;

/** The manager's Kysely, bound to its current transaction (if any). */
export function kyselyOf(em: EntityManager): Kysely<unknown> {
  return (em as SqlEntityManager).getKysely() as Kysely<unknown>;
}

/** Runs a statement on the manager's connection and current transaction; its rows. */
export async function query<R = Row>(em: EntityManager, statement: RawBuilder<R>): Promise<R[]> {
  return (await statement.execute(kyselyOf(em))).rows;
}

/** The statement's text (`$n` placeholders) and its bind values. */
export function compile(em: EntityManager, statement: RawBuilder<unknown>): CompiledQuery<unknown> {
  return statement.compile(kyselyOf(em));
}

/**
 * Runs a statement as the named prepared statement `name` on the pool, outside any transaction (see
 * native-pool.ts). `name` must stand for one statement text for the life of the process.
 */
export async function prepared(
  em: EntityManager,
  name: string,
  statement: RawBuilder<unknown>,
): Promise<Row[]> {
  const compiled = compile(em, statement);
  return preparedQuery(em, name, compiled.sql, compiled.parameters as unknown[]);
}

/** `a and b and ...` of the parts; `true` when there are none. */
export function allOf(parts: readonly RawBuilder<unknown>[]): RawBuilder<unknown> {
  return parts.length === 0 ? sql`true` : sql.join(parts, sql` and `);
}

/** The task row (including soft-deleted ones), or null. */
export async function loadTask(em: EntityManager, id: string, forUpdate = false): Promise<TaskRow | null> {
  const rows = await query(
    em,
    sql<Row>`select ${sql.raw(TASK_SELECT_LIST)} from tasks t where t.id = ${id}${forUpdate ? sql` for update` : sql``}`,
  );
  return rows[0] ? taskRowFromDb(rows[0]) : null;
}

export { insertTaskEvent } from "./task-events.js";
