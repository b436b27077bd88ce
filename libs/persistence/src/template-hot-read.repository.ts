/**
 * Hot single-statement reads of the template repositories (authorization, render plans, GetTemplate) as
 * named prepared statements (sql-toolkit's `prepared`: parsed and planned once per pooled connection instead
 * of on every call) whenever the EntityManager holds no transaction.
 */
import type { EntityManager } from "@mikro-orm/core";
import { prepared, query, type RawBuilder, type Row } from "./sql-toolkit.js";

/**
 * Runs a hot read as the named prepared statement `name` on `em`'s pool when `em` holds no transaction, else
 * on `em`'s connection in its transaction. `name` must stand for one statement text.
 */
export function hotRead(em: EntityManager, name: string, statement: RawBuilder<Row>): Promise<Row[]> {
  return em.getTransactionContext() === undefined ? prepared(em, name, statement) : query(em, statement);
}
