/**
 * Task persistence for one request: construct it with that request's `EntityManager` fork. The work is in
 * files with one role each: task-model.ts (shapes and errors), task-columns.ts (columns, select lists, row
 * mapping), task-create.repository.ts (the one create path), task-read.repository.ts (reads and ListTasks),
 * task-hierarchy.repository.ts (hierarchy rules, move, delete/undelete); UpdateTask's SET list is here.
 *
 * Every statement is a Kysely `sql` template run on the manager's connection and transaction (sql-toolkit.ts)
 * and returns plain {@link TaskRow} objects (about 3x faster than hydrating entities); GetTask and CreateTask
 * outside a transaction run named prepared statements on the pool.
 */
import type { EntityManager } from "@mikro-orm/core";
import { insertTaskEvent, query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import {
  JSONB_KEYS,
  OBJECT_JSON_KEYS,
  TASK_COLUMNS,
  TASK_SELECT_LIST,
  TEXT_ARRAY_KEYS,
  taskRowFromDb,
} from "./task-columns.js";
import { batchCreateTasks, createTask } from "./task-create.repository.js";
import {
  childTypes,
  depthOf,
  type HierarchyRules,
  moveTask,
  nearestEpic,
  softDeleteTask,
  undeleteTask,
} from "./task-hierarchy.repository.js";
import type {
  ChangeContext,
  ChildTaskPage,
  ChildTasksOptions,
  CreateTaskInput,
  ListTasksOptions,
  TaskPage,
  TaskPatch,
  TaskReferenceKind,
  TaskRow,
} from "./task-model.js";
import {
  getTaskById,
  getTasks,
  listChildTasks,
  listTasks,
  lookupTask,
  taskAncestors,
} from "./task-read.repository.js";
import { missingOrStale, rethrowTaken } from "./task-write-checks.js";
import type { TaskType } from "./value-sets.js";

export { InvalidPageTokenError } from "./page-token.js";
export { CLAIM_ID_SQL, TASK_COLUMN_LIST, TASK_SELECT_LIST, taskRowFromDb } from "./task-columns.js";
export type { HierarchyRules } from "./task-hierarchy.repository.js";
export * from "./task-model.js";
export { takenReferenceField } from "./task-write-checks.js";

/** Row keys whose `taskmaster.task.v1.Task` field is not their snake_case form. */
const PROTO_FIELD_OF: Partial<Record<keyof TaskRow, string>> = {
  epicId: "epic",
  sprintId: "sprint",
  releaseId: "release",
  milestoneId: "milestone",
  dueDate: "due_time",
};

/** A patched row key as the proto field path `task.updated` events carry (`storyPoints` -> `story_points`). */
function changedFieldPath(key: string): string {
  return PROTO_FIELD_OF[key as keyof TaskRow] ?? key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export class TaskRepository {
  constructor(private readonly em: EntityManager) {}

  /** See {@link createTask}. */
  create(input: CreateTaskInput, ctx: ChangeContext = {}): Promise<TaskRow> {
    return createTask(this.em, input, ctx);
  }

  /** See {@link batchCreateTasks}. */
  batchCreate(inputs: CreateTaskInput[], ctx: ChangeContext = {}): Promise<TaskRow[]> {
    return batchCreateTasks(this.em, inputs, ctx);
  }

  /** A task by id (soft-deleted ones only with `includeDeleted`), or `null`. `id` must be a UUID. */
  getById(id: string, opts: { includeDeleted?: boolean } = {}): Promise<TaskRow | null> {
    return getTaskById(this.em, id, opts);
  }

  /** Tasks by id (soft-deleted included); missing ones are absent. */
  getMany(ids: string[]): Promise<Map<string, TaskRow>> {
    return getTasks(this.em, ids);
  }

  /** The live task holding an external reference, or null. */
  lookup(kind: TaskReferenceKind, value: string): Promise<TaskRow | null> {
    return lookupTask(this.em, kind, value);
  }

  /** The nearest EPIC among `taskId` and its ancestors (used to derive `epic` on create). */
  nearestEpic(taskId: string): Promise<string | null> {
    return nearestEpic(this.em, taskId);
  }

  /** Distinct types of a task's live direct children. */
  childTypes(taskId: string): Promise<TaskType[]> {
    return childTypes(this.em, taskId);
  }

  /** Number of ancestors of a task (0 for a root). */
  depthOf(taskId: string): Promise<number> {
    return depthOf(this.em, taskId);
  }

  /** See {@link updateTask}. */
  update(
    id: string,
    patch: TaskPatch,
    expectedVersion: number | null,
    ctx: ChangeContext = {},
  ): Promise<TaskRow> {
    return updateTask(this.em, id, patch, expectedVersion, ctx);
  }

  /** See {@link softDeleteTask}. */
  softDelete(
    id: string,
    opts: { expectedVersion: number | null; cascade: boolean; validateOnly?: boolean },
    ctx: ChangeContext = {},
  ): Promise<TaskRow> {
    return softDeleteTask(this.em, id, opts, ctx);
  }

  /** See {@link undeleteTask}. */
  undelete(
    id: string,
    opts: { expectedVersion: number | null; validateOnly?: boolean },
    ctx: ChangeContext = {},
  ): Promise<TaskRow> {
    return undeleteTask(this.em, id, opts, ctx);
  }

  /** See {@link moveTask}. */
  move(
    id: string,
    newParentId: string | null,
    opts: { expectedVersion: number | null; validateOnly?: boolean; rules: HierarchyRules },
    ctx: ChangeContext = {},
  ): Promise<{ row: TaskRow; movedDescendantCount: number }> {
    return moveTask(this.em, id, newParentId, opts, ctx);
  }

  /** Ancestors of a task, root first (at most 64 levels walked). */
  ancestors(id: string): Promise<TaskRow[]> {
    return taskAncestors(this.em, id);
  }

  /** One page of a task's children, or of its whole subtree in depth-first pre-order. */
  listChildren(parentId: string, opts: ChildTasksOptions = {}): Promise<ChildTaskPage> {
    return listChildTasks(this.em, parentId, opts);
  }

  /** One page of tasks: filter, multi-key order (ties on id), keyset page tokens bound to the request. */
  list(opts: ListTasksOptions = {}): Promise<TaskPage> {
    return listTasks(this.em, opts);
  }
}

/**
 * Writes the patched fields of a live task (+1 version, updated_at now, a `task.updated` event) in one
 * transaction. With `expectedVersion`, a different current version is a {@link TaskVersionConflictError};
 * so is losing a race against another writer that expected the same version. The statement is built with
 * Kysely (`em.getKysely()`, bound to the transaction); values only ever travel as bind parameters.
 */
async function updateTask(
  em: EntityManager,
  id: string,
  patch: TaskPatch,
  expectedVersion: number | null,
  ctx: ChangeContext = {},
): Promise<TaskRow> {
  const sets: RawBuilder<unknown>[] = [];
  for (const [key, column] of TASK_COLUMNS) {
    if (!(key in patch)) continue;
    const value = (patch as Record<string, unknown>)[key];
    const target = sql.ref(column);
    if (JSONB_KEYS.has(key)) {
      sets.push(sql`${target} = ${JSON.stringify(value ?? (OBJECT_JSON_KEYS.has(key) ? {} : []))}::jsonb`);
    } else if (TEXT_ARRAY_KEYS.has(key)) {
      sets.push(
        sql`${target} = array(select jsonb_array_elements_text(${JSON.stringify(value ?? [])}::jsonb))`,
      );
    } else if (value instanceof Date) {
      sets.push(sql`${target} = ${value.toISOString()}::timestamptz`);
    } else {
      sets.push(sql`${target} = ${value ?? null}`);
    }
  }
  const fields = Object.keys(patch).map(changedFieldPath);
  try {
    return await em.transactional(async (em) => {
      const guard = expectedVersion === null ? sql`` : sql` and t.version = ${expectedVersion}`;
      const rows = await query(
        em,
        sql<Row>`update tasks t
        set ${sql.join([...sets, sql`version = t.version + 1`, sql`updated_at = now()`])}
        where t.id = ${id} and t.deleted_at is null${guard}
        returning ${sql.raw(TASK_SELECT_LIST)}`,
      );
      const raw = rows[0];
      if (!raw) throw await missingOrStale(em, id);
      await insertTaskEvent(em, id, "task.updated", { fields }, ctx);
      return taskRowFromDb(raw);
    });
  } catch (err) {
    rethrowTaken(err);
  }
}
