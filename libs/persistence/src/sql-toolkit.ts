/**
 * The small SQL toolkit the task repositories (workflow, comment, time log, task parts) share: raw SQL on
 * the manager's transaction, the task row read and the task event insert. Filter conditions are rendered by
 * filter-sql.ts.
 */
import type { EntityManager } from "@mikro-orm/core";
import { TASK_SELECT_LIST, taskRowFromDb } from "./task-columns.js";
import type { TaskRow } from "./task-model.js";

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
