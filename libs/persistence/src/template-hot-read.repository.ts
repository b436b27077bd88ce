/**
 * Hot single-statement reads of the template repositories (authorization, render plans, GetTemplate) as
 * named prepared statements (native-pool.ts: parsed and planned once per pooled connection instead of on
 * every call) whenever the EntityManager holds no transaction.
 */
import type { EntityManager } from "@mikro-orm/core";
import { preparedQuery } from "./native-pool.js";

/** `sql` with its `?` placeholders numbered `$1..$n` (the SQL must hold no other `?`, e.g. jsonb operators). */
export function numberedPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * Runs a hot read as a named prepared statement on `em`'s pool (parsed and planned once per connection)
 * when `em` holds no transaction, else through `em`'s connection in its transaction. `sql` uses `?`.
 */
export async function hotRead(
  em: EntityManager,
  name: string,
  sql: string,
  params: unknown[],
): Promise<Record<string, unknown>[]> {
  const tx = em.getTransactionContext();
  if (tx !== undefined) return em.getConnection().execute(sql, params, "all", tx);
  return preparedQuery(em, name, numberedPlaceholders(sql), params);
}
