/**
 * The small SQL toolkit the task sub-resource repositories (workflow, comment, time log) share: raw SQL on
 * the manager's transaction, typed filter conditions rendered against a field -> column map and the task
 * row read.
 */
import type { EntityManager } from "@mikro-orm/core";
import { TASK_SELECT_LIST, taskRowFromDb } from "./task-columns.js";
import type { TaskRow } from "./task-model.js";

/** Comparison operators of the AIP-160 subset the sub-resource lists support. */
export type FilterOp = "=" | "!=" | "<" | "<=" | ">" | ">=";

/** One typed condition `field op value` (values already validated and converted by the service layer). */
export interface FilterCondition {
  field: string;
  op: FilterOp;
  value: string | number | boolean | Date | null;
}

/** Renders conditions (ANDed) against `columns` (field -> SQL expression); unknown fields throw. */
export function renderConditions(
  conditions: readonly FilterCondition[],
  columns: Readonly<Record<string, string>>,
  where: string[],
  params: unknown[],
): void {
  for (const c of conditions) {
    const column = columns[c.field];
    if (column === undefined) throw new Error(`unsupported filter field ${c.field}`);
    if (c.value === null) {
      where.push(c.op === "!=" ? `${column} is not null` : `${column} is null`);
      continue;
    }
    where.push(c.op === "!=" ? `${column} is distinct from ?` : `${column} ${c.op} ?`);
    params.push(c.value);
  }
}

/** Runs raw SQL on the manager's connection and current transaction. */
export function execute(
  em: EntityManager,
  sql: string,
  params: unknown[],
): Promise<Record<string, unknown>[]> {
  return em.getConnection().execute(sql, params, "all", em.getTransactionContext());
}

/** The task row (including soft-deleted ones), or null. */
export async function loadTask(em: EntityManager, id: string, forUpdate = false): Promise<TaskRow | null> {
  const rows = await execute(
    em,
    `select ${TASK_SELECT_LIST} from tasks t where t.id = ?${forUpdate ? " for update" : ""}`,
    [id],
  );
  return rows[0] ? taskRowFromDb(rows[0]) : null;
}

export { insertTaskEvent } from "./task-events.js";
