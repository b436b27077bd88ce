/**
 * Read models over the relationship graph: the dependency graph around a task (breadth-first, bounded) and
 * the tasks and precedence edges of a critical-path scope.
 */
import type { EntityManager } from "@mikro-orm/core";
import { inverseCaseSql, PRECEDENCE_SQL } from "./relationship-types.js";
import { query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import type { RelationshipType, TaskPriority, TaskStatus } from "./value-sets.js";

export interface GraphNodeRow {
  id: string;
  title: string;
  status: TaskStatus;
  priority: TaskPriority;
  estimatedHours: number | null;
  remainingHours: number | null;
  actualHours: number;
  depth: number;
}

export interface GraphEdgeRow {
  id: string;
  sourceTaskId: string;
  targetTaskId: string;
  type: RelationshipType;
  strength: number;
}

export interface DependencyGraphResult {
  nodes: GraphNodeRow[];
  edges: GraphEdgeRow[];
  truncated: boolean;
}

/** Canonical side of a pair, so a traversal that follows both directions reports each relationship once. */
const CANONICAL_SQL = `(x.type in ('blocks', 'depends_on', 'duplicates', 'parent_of', 'follows')
  or (x.type in ('relates_to', 'conflicts_with') and x.source_task_id < x.target_task_id))`;

export type CriticalPathScope =
  | { kind: "task"; id: string }
  | { kind: "sprint"; id: string }
  | { kind: "release"; id: string }
  | { kind: "epic"; id: string };

export interface CriticalPathTask {
  id: string;
  title: string;
  status: TaskStatus;
  estimatedHours: number | null;
  remainingHours: number | null;
  actualHours: number;
}

const DONE_SQL = sql.raw(`('completed', 'cancelled', 'archived', 'failed')`);
const PRECEDENCE = sql.raw(PRECEDENCE_SQL);
/** Hard cap on the tasks a critical-path scope may hold. */
export const CRITICAL_PATH_MAX_TASKS = 10_000;

/**
 * Breadth-first walk from `rootId` over rows of the given types (outgoing from each reached task, soft-
 * deleted tasks skipped), each node at its minimal depth; nodes beyond `maxNodes` (deepest first) are cut.
 */
export async function dependencyGraph(
  em: EntityManager,
  rootId: string,
  types: readonly RelationshipType[],
  maxDepth: number,
  maxNodes: number,
): Promise<DependencyGraphResult> {
  const typeList = sql`${types}::text[]`;
  const rows = await query(
    em,
    sql<Row>`with recursive walk(node, depth) as (
       select ${rootId}::uuid, 0
       union
       select r.target_task_id, w.depth + 1 from walk w
         join task_relationships r on r.source_task_id = w.node and r.type = any(${typeList})
         join tasks t on t.id = r.target_task_id and t.deleted_at is null
       where w.depth < ${maxDepth}::int
     ),
     nodes as (select node, min(depth) as depth from walk group by node)
     select t.id, t.title, t.status, t.priority, t.estimated_hours, t.remaining_hours, t.actual_hours, n.depth,
            exists (select 1 from task_relationships r join tasks u on u.id = r.target_task_id and u.deleted_at is null
                    where n.depth = ${maxDepth}::int and r.source_task_id = n.node and r.type = any(${typeList})
                      and r.target_task_id not in (select node from nodes)) as cut
     from nodes n join tasks t on t.id = n.node
     order by n.depth, (t.id = ${rootId}::uuid) desc, t.id
     limit ${maxNodes + 1}::int`,
  );
  const truncated = rows.length > maxNodes || rows.some((r) => r.cut === true);
  const kept = rows.slice(0, maxNodes);
  const nodes: GraphNodeRow[] = kept.map((r) => ({
    id: String(r.id),
    title: String(r.title),
    status: r.status as TaskStatus,
    priority: r.priority as TaskPriority,
    estimatedHours: r.estimated_hours === null ? null : Number(r.estimated_hours),
    remainingHours: r.remaining_hours === null ? null : Number(r.remaining_hours),
    actualHours: Number(r.actual_hours),
    depth: Number(r.depth),
  }));
  if (nodes.length === 0) return { nodes, edges: [], truncated };
  const ids = nodes.map((n) => n.id);
  const edges = await query(
    em,
    sql<Row>`select x.id, x.source_task_id, x.target_task_id, x.type, x.strength from task_relationships x
     where x.source_task_id = any(${ids}::uuid[]) and x.target_task_id = any(${ids}::uuid[])
       and x.type = any(${typeList})
       and (${sql.raw(CANONICAL_SQL)} or ${sql.raw(inverseCaseSql("x.type"))} <> all(${typeList}))
     order by x.created_at, x.id`,
  );
  return {
    nodes,
    truncated,
    edges: edges.map((e) => ({
      id: String(e.id),
      sourceTaskId: String(e.source_task_id),
      targetTaskId: String(e.target_task_id),
      type: e.type as RelationshipType,
      strength: Number(e.strength),
    })),
  };
}

/** Whether the scope's owner exists (task/epic live, sprint/release not deleted). */
export async function scopeExists(em: EntityManager, scope: CriticalPathScope): Promise<boolean> {
  const table = { task: "tasks", epic: "tasks", sprint: "sprints", release: "releases" }[scope.kind];
  const rows = await query(
    em,
    sql`select 1 from ${sql.table(table)} where id = ${scope.id} and deleted_at is null`,
  );
  return rows.length > 0;
}

/** The ids of the tasks a critical-path scope covers, as a subquery. */
function criticalPathScopeSql(scope: CriticalPathScope): RawBuilder<unknown> {
  switch (scope.kind) {
    case "task":
      return sql`with recursive s(id) as (
             select ${scope.id}::uuid
             union
             select r.source_task_id from s join task_relationships r
               on r.target_task_id = s.id and r.type in ${PRECEDENCE}
           ) select id from s`;
    case "sprint":
      return sql`select id from tasks where sprint_id = ${scope.id}::uuid`;
    case "release":
      return sql`select id from tasks where release_id = ${scope.id}::uuid`;
    case "epic":
      return sql`with recursive s(id) as (
             select id from tasks where epic_id = ${scope.id}::uuid or parent_id = ${scope.id}::uuid
             union
             select t.id from s join tasks t on t.parent_id = s.id
           ) select id from s`;
  }
}

/**
 * The tasks of a critical-path scope and the precedence edges among them (before -> after). Bounded by
 * {@link CRITICAL_PATH_MAX_TASKS}; `tooLarge` when the scope holds more.
 */
export async function criticalPathGraph(
  em: EntityManager,
  scope: CriticalPathScope,
  excludeDone: boolean,
): Promise<{ tasks: CriticalPathTask[]; edges: [string, string][]; tooLarge: boolean }> {
  const scopeSql = criticalPathScopeSql(scope);
  const rows = await query(
    em,
    sql<Row>`select t.id, t.title, t.status, t.estimated_hours, t.remaining_hours, t.actual_hours
     from tasks t where t.id in (${scopeSql}) and t.deleted_at is null
       ${excludeDone ? sql`and t.status not in ${DONE_SQL}` : sql``}
     order by t.created_at, t.id limit ${CRITICAL_PATH_MAX_TASKS + 1}::int`,
  );
  if (rows.length > CRITICAL_PATH_MAX_TASKS) return { tasks: [], edges: [], tooLarge: true };
  const tasks: CriticalPathTask[] = rows.map((r) => ({
    id: String(r.id),
    title: String(r.title),
    status: r.status as TaskStatus,
    estimatedHours: r.estimated_hours === null ? null : Number(r.estimated_hours),
    remainingHours: r.remaining_hours === null ? null : Number(r.remaining_hours),
    actualHours: Number(r.actual_hours),
  }));
  if (tasks.length === 0) return { tasks, edges: [], tooLarge: false };
  const ids = tasks.map((t) => t.id);
  const edgeRows = await query(
    em,
    sql<Row>`select distinct source_task_id, target_task_id from task_relationships
     where type in ${PRECEDENCE} and source_task_id = any(${ids}::uuid[]) and target_task_id = any(${ids}::uuid[])`,
  );
  return {
    tasks,
    edges: edgeRows.map((e) => [String(e.source_task_id), String(e.target_task_id)]),
    tooLarge: false,
  };
}
