/**
 * Read models over the relationship graph: the dependency graph around a task (breadth-first, bounded) and
 * the tasks and precedence edges of a critical-path scope.
 */
import type { EntityManager } from "@mikro-orm/core";
import { INVERSE_CASE, PRECEDENCE_SQL } from "./relationship-types.js";
import type { RelationshipType, TaskPriority, TaskStatus } from "./value-sets.js";

function exec(em: EntityManager, sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
  return em.getConnection().execute(sql, params, "all", em.getTransactionContext());
}

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

const DONE_SQL = `('completed', 'cancelled', 'archived', 'failed')`;
/** Hard cap on the tasks a critical-path scope may hold. */
export const CRITICAL_PATH_MAX_TASKS = 10_000;

const sqlList = (values: readonly string[]) => values.map((v) => `'${v.replaceAll("'", "''")}'`).join(", ");

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
  const typeSql = sqlList(types);
  const rows = await exec(
    em,
    `with recursive walk(node, depth) as (
       select ?::uuid, 0
       union
       select r.target_task_id, w.depth + 1 from walk w
         join task_relationships r on r.source_task_id = w.node and r.type in (${typeSql})
         join tasks t on t.id = r.target_task_id and t.deleted_at is null
       where w.depth < ?
     ),
     nodes as (select node, min(depth) as depth from walk group by node)
     select t.id, t.title, t.status, t.priority, t.estimated_hours, t.remaining_hours, t.actual_hours, n.depth,
            exists (select 1 from task_relationships r join tasks u on u.id = r.target_task_id and u.deleted_at is null
                    where n.depth = ? and r.source_task_id = n.node and r.type in (${typeSql})
                      and r.target_task_id not in (select node from nodes)) as cut
     from nodes n join tasks t on t.id = n.node
     order by n.depth, (t.id = ?::uuid) desc, t.id
     limit ?`,
    [rootId, maxDepth, maxDepth, rootId, maxNodes + 1],
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
  const idList = ids.map(() => "?").join(", ");
  const edges = await exec(
    em,
    `select x.id, x.source_task_id, x.target_task_id, x.type, x.strength from task_relationships x
     where x.source_task_id in (${idList}) and x.target_task_id in (${idList}) and x.type in (${typeSql})
       and (${CANONICAL_SQL} or ${INVERSE_CASE.replaceAll("r.type", "x.type")} not in (${typeSql}))
     order by x.created_at, x.id`,
    [...ids, ...ids],
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
  const rows = await exec(em, `select 1 from ${table} where id = ? and deleted_at is null`, [scope.id]);
  return rows.length > 0;
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
  const scopeSql = {
    task: `with recursive s(id) as (
             select ?::uuid
             union
             select r.source_task_id from s join task_relationships r
               on r.target_task_id = s.id and r.type in ${PRECEDENCE_SQL}
           ) select id from s`,
    sprint: "select id from tasks where sprint_id = ?",
    release: "select id from tasks where release_id = ?",
    epic: `with recursive s(id) as (
             select id from tasks where epic_id = ?::uuid or parent_id = ?::uuid
             union
             select t.id from s join tasks t on t.parent_id = s.id
           ) select id from s`,
  }[scope.kind];
  const scopeParams = scope.kind === "epic" ? [scope.id, scope.id] : [scope.id];
  const rows = await exec(
    em,
    `select t.id, t.title, t.status, t.estimated_hours, t.remaining_hours, t.actual_hours
     from tasks t where t.id in (${scopeSql}) and t.deleted_at is null
       ${excludeDone ? `and t.status not in ${DONE_SQL}` : ""}
     order by t.created_at, t.id limit ?`,
    [...scopeParams, CRITICAL_PATH_MAX_TASKS + 1],
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
  const idList = ids.map(() => "?").join(", ");
  const edgeRows = await exec(
    em,
    `select distinct source_task_id, target_task_id from task_relationships
     where type in ${PRECEDENCE_SQL} and source_task_id in (${idList}) and target_task_id in (${idList})`,
    [...ids, ...ids],
  );
  return {
    tasks,
    edges: edgeRows.map((e) => [String(e.source_task_id), String(e.target_task_id)]),
    tooLarge: false,
  };
}
