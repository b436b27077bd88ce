/**
 * The task hierarchy: its type rule, depth and nearest epic, and the writes that reshape it (move, soft
 * delete with its subtree, undelete). The rules themselves are the task service's domain
 * (apps/task-service/src/task-hierarchy.service.ts): move receives them; the SQL they need is here.
 */
import type { EntityManager } from "@mikro-orm/core";
import { insertTaskEvent, loadTask, query, type Row, sql } from "./sql-toolkit.js";
import { TASK_SELECT_LIST, taskRowFromDb } from "./task-columns.js";
import {
  type ChangeContext,
  TaskCycleError,
  TaskHierarchyError,
  TaskNotFoundError,
  type TaskRow,
  TaskVersionConflictError,
} from "./task-model.js";
import { lockLive, rethrowTaken } from "./task-write-checks.js";
import type { TaskType } from "./value-sets.js";

/** The hierarchy's domain rules (task-hierarchy.service.ts in task-service), applied by {@link moveTask}. */
export interface HierarchyRules {
  /** Why `childType` may not sit under `parentType`, or null. */
  violation(childType: TaskType, parentType: TaskType): string | null;
  /** Most ancestors a task may have. */
  maxDepth: number;
}

export async function nearestEpic(em: EntityManager, taskId: string): Promise<string | null> {
  const rows = await query(
    em,
    sql<Row>`with recursive up as (
       select id, parent_id, type, 0 as lvl from tasks where id = ${taskId}
       union all
       select p.id, p.parent_id, p.type, up.lvl + 1 from tasks p join up on p.id = up.parent_id where up.lvl < 64
     )
     select id from up where type = 'epic' order by lvl limit 1`,
  );
  return rows[0] ? String(rows[0].id) : null;
}

/** Distinct types of a task's live direct children. */
export async function childTypes(em: EntityManager, taskId: string): Promise<TaskType[]> {
  const rows = await query(
    em,
    sql<Row>`select distinct type from tasks where parent_id = ${taskId} and deleted_at is null`,
  );
  return rows.map((r) => r.type as TaskType);
}

/** Number of ancestors of a task (0 for a root). */
export async function depthOf(em: EntityManager, taskId: string): Promise<number> {
  const rows = await query(
    em,
    sql<Row>`with recursive up as (
       select id, parent_id, 0 as lvl from tasks where id = ${taskId}
       union all
       select p.id, p.parent_id, up.lvl + 1 from tasks p join up on p.id = up.parent_id where up.lvl < 64
     )
     select max(lvl)::int as depth from up`,
  );
  return Number(rows[0]?.depth ?? 0);
}

/**
 * Soft-deletes a live task (and, with `cascade`, its live subtree, all with the same delete time so
 * undelete can restore exactly that subtree). Without `cascade`, live children are a HAS_DEPENDANTS error.
 */
export async function softDeleteTask(
  em: EntityManager,
  id: string,
  opts: { expectedVersion: number | null; cascade: boolean; validateOnly?: boolean },
  ctx: ChangeContext = {},
): Promise<TaskRow> {
  return em.transactional(async (em) => {
    const current = await lockLive(em, id, opts.expectedVersion);
    const children = await query(
      em,
      sql<Row>`select count(*)::int as n from tasks where parent_id = ${id} and deleted_at is null`,
    );
    const n = Number(children[0]?.n ?? 0);
    if (n > 0 && !opts.cascade) {
      throw new TaskHierarchyError(
        "HAS_DEPENDANTS",
        `the task has ${n} live child task(s); delete them first or set cascade`,
      );
    }
    if (opts.validateOnly) return current;
    const deleted = await query(
      em,
      sql<Row>`with recursive sub as (
         select id from tasks where id = ${id}
         union
         select c.id from tasks c join sub s on c.parent_id = s.id where c.deleted_at is null
       )
       update tasks t set deleted_at = now(), version = t.version + 1, updated_at = now()
       from sub where t.id = sub.id and t.deleted_at is null
       returning t.id`,
    );
    for (const r of deleted) {
      await insertTaskEvent(
        em,
        String(r.id),
        "task.deleted",
        { cascadeRoot: id, cascade: opts.cascade },
        ctx,
      );
    }
    return (await loadTask(em, id)) as TaskRow;
  });
}

/**
 * Restores a soft-deleted task and the part of its subtree deleted together with it (same delete time).
 * A live task is NOT_DELETED; a task whose parent is still deleted is PARENT_DELETED.
 */
export async function undeleteTask(
  em: EntityManager,
  id: string,
  opts: { expectedVersion: number | null; validateOnly?: boolean },
  ctx: ChangeContext = {},
): Promise<TaskRow> {
  try {
    return await em.transactional(async (em) => {
      const rows = await query(
        em,
        sql<Row>`select ${sql.raw(TASK_SELECT_LIST)} from tasks t where t.id = ${id} for update`,
      );
      if (!rows[0]) throw new TaskNotFoundError(id);
      const current = taskRowFromDb(rows[0]);
      if (opts.expectedVersion !== null && current.version !== opts.expectedVersion) {
        throw new TaskVersionConflictError(id);
      }
      if (current.deletedAt === null) throw new TaskHierarchyError("NOT_DELETED", "the task is not deleted");
      if (current.parentId !== null) {
        const parent = await loadTask(em, current.parentId);
        if (parent?.deletedAt !== null) {
          throw new TaskHierarchyError("PARENT_DELETED", "the parent task is deleted; undelete it first");
        }
      }
      if (opts.validateOnly) return current;
      const restored = await query(
        em,
        sql<Row>`with recursive root as (select deleted_at as d from tasks where id = ${id}),
         sub as (
           select id from tasks where id = ${id}
           union
           select c.id from tasks c join sub s on c.parent_id = s.id join root on c.deleted_at = root.d
         )
         update tasks t set deleted_at = null, version = t.version + 1, updated_at = now()
         from sub where t.id = sub.id and t.deleted_at is not null
         returning t.id`,
      );
      for (const r of restored)
        await insertTaskEvent(em, String(r.id), "task.undeleted", { cascadeRoot: id }, ctx);
      return (await loadTask(em, id)) as TaskRow;
    });
  } catch (err) {
    rethrowTaken(err);
  }
}

/**
 * Moves a live task with its subtree under `newParentId` (null: to the root). Refuses cycles (found by
 * walking the new parent's ancestors in SQL), depth beyond `rules.maxDepth` and type-rule breaks.
 */
export async function moveTask(
  em: EntityManager,
  id: string,
  newParentId: string | null,
  opts: { expectedVersion: number | null; validateOnly?: boolean; rules: HierarchyRules },
  ctx: ChangeContext = {},
): Promise<{ row: TaskRow; movedDescendantCount: number }> {
  return em.transactional(async (em) => {
    // Moves are serialised: two concurrent moves (A under B, B under A) could otherwise each pass the
    // cycle check against the other's pre-move state.
    await query(em, sql<Row>`select pg_advisory_xact_lock(hashtext('taskmaster.tasks.hierarchy'))`);
    const current = await lockLive(em, id, opts.expectedVersion);
    let newDepth = 0;
    if (newParentId !== null) {
      if (newParentId === id) throw new TaskCycleError([id, id]);
      const chain = await query(
        em,
        sql<Row>`with recursive up as (
           select id, parent_id, type, deleted_at, 0 as lvl from tasks where id = ${newParentId}
           union all
           select p.id, p.parent_id, p.type, p.deleted_at, up.lvl + 1
           from tasks p join up on p.id = up.parent_id where up.lvl < 64 and up.id <> ${id}
         )
         select id, type, deleted_at from up order by lvl`,
      );
      const parent = chain[0];
      if (!parent || parent.deleted_at !== null) throw new TaskNotFoundError(newParentId);
      const ids = chain.map((r) => String(r.id));
      const at = ids.indexOf(id);
      if (at >= 0) throw new TaskCycleError([id, ...ids.slice(0, at), id]);
      const rule = opts.rules.violation(current.type, parent.type as TaskType);
      if (rule !== null) throw new TaskHierarchyError("TYPE_HIERARCHY", rule);
      newDepth = ids.length;
    }
    const sub = await query(
      em,
      sql<Row>`with recursive down as (
         select id, 0 as d from tasks where id = ${id}
         union all
         select c.id, down.d + 1 from tasks c join down on c.parent_id = down.id
         where c.deleted_at is null and down.d < 64
       )
       select max(d)::int as height, (count(*) - 1)::int as n from down`,
    );
    const height = Number(sub[0]?.height ?? 0);
    const movedDescendantCount = Number(sub[0]?.n ?? 0);
    if (newDepth + height > opts.rules.maxDepth) {
      throw new TaskHierarchyError(
        "DEPTH_EXCEEDED",
        `the hierarchy would be ${newDepth + height + 1} levels deep (at most ${opts.rules.maxDepth + 1} levels, ${opts.rules.maxDepth} ancestors)`,
      );
    }
    if (opts.validateOnly) return { row: current, movedDescendantCount };
    const rows = await query(
      em,
      sql<Row>`update tasks t set parent_id = ${newParentId}, version = t.version + 1, updated_at = now()
       where t.id = ${id} returning ${sql.raw(TASK_SELECT_LIST)}`,
    );
    await insertTaskEvent(
      em,
      id,
      "task.moved",
      { fromParentId: current.parentId, toParentId: newParentId, movedDescendantCount },
      ctx,
    );
    return { row: taskRowFromDb(rows[0] as Record<string, unknown>), movedDescendantCount };
  });
}
