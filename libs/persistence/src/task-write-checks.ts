/** Guards of task writes: the live-row lock with its version check, and taken external references. */
import type { EntityManager } from "@mikro-orm/core";
import { constraintOf, isUniqueViolation } from "./db-errors.js";
import { query, type Row, sql } from "./sql-toolkit.js";
import { TASK_SELECT_LIST, taskRowFromDb } from "./task-columns.js";
import {
  TaskNotFoundError,
  TaskReferenceTakenError,
  type TaskRow,
  TaskVersionConflictError,
} from "./task-model.js";

/** Unique index name -> the contract field it protects. */
const UNIQUE_REFERENCE_INDEXES: Record<string, string> = {
  tasks_external_id_live_uniq: "external_id",
  tasks_github_issue_url_live_uniq: "github_issue_url",
  tasks_github_pr_url_live_uniq: "github_pr_url",
  tasks_linear_issue_id_live_uniq: "linear_issue_id",
  tasks_jira_key_live_uniq: "jira_key",
};

/** The field of a violated external-reference unique index, or undefined for any other error. */
export function takenReferenceField(err: unknown): string | undefined {
  if (!isUniqueViolation(err)) return undefined;
  const constraint = constraintOf(err);
  return constraint === undefined ? undefined : UNIQUE_REFERENCE_INDEXES[constraint];
}

/** Rethrows a taken external reference as {@link TaskReferenceTakenError}, anything else as is. */
export function rethrowTaken(err: unknown): never {
  const field = takenReferenceField(err);
  if (field !== undefined) throw new TaskReferenceTakenError(field);
  throw err;
}

/** Locks a live task row for the transaction; NOT_FOUND when absent/deleted, conflict on a version mismatch. */
export async function lockLive(
  em: EntityManager,
  id: string,
  expectedVersion: number | null,
): Promise<TaskRow> {
  const rows = await query(
    em,
    sql<Row>`select ${sql.raw(TASK_SELECT_LIST)} from tasks t where t.id = ${id} and t.deleted_at is null for update`,
  );
  if (!rows[0]) throw new TaskNotFoundError(id);
  const row = taskRowFromDb(rows[0]);
  if (expectedVersion !== null && row.version !== expectedVersion) throw new TaskVersionConflictError(id);
  return row;
}

/** The error of a guarded write that matched no row: the task is gone, or its version moved on. */
export async function missingOrStale(em: EntityManager, id: string): Promise<Error> {
  const rows = await query(em, sql<Row>`select deleted_at from tasks where id = ${id}`);
  return !rows[0] || rows[0].deleted_at !== null
    ? new TaskNotFoundError(id)
    : new TaskVersionConflictError(id);
}
