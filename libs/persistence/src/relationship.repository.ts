/**
 * Task relationships. Every relationship is stored as TWO rows, one per direction: the row the caller
 * created (source -> target, type) and its inverse (target -> source, inverse(type)); for the symmetric
 * types (relates_to, conflicts_with) the mirror row has the same type. Both rows are created and deleted
 * together in one transaction, each with a `task.relationship` outbox event on its source task.
 *
 * Cycle detection works on the "precedence" graph: an edge X -> Y means X must finish before Y. It is
 * formed by the rows of type blocks (source before target), dependency_of (source before target) and
 * precedes (source before target); their inverse rows carry the same information, so only these three
 * types are walked. The three families share one graph (A blocks B plus A depends_on B is a deadlock too).
 * Reachability is a recursive CTE with set semantics (linear in the edges); the graph is never loaded
 * into memory. A transaction-scoped advisory lock serialises precedence-edge inserts, so two concurrent
 * creates cannot together close a cycle that neither saw.
 */

import type { EntityManager } from "@mikro-orm/core";
import { isUniqueViolation } from "./db-errors.js";
import { storeIdempotentResource } from "./idempotency.js";
import { newId } from "./ids.js";
import { type ColumnSpec, type ListQuery, listPage, type Page, type WriteContext } from "./list-page.js";
import { INSERT_TASK_EVENT_SQL } from "./task-events.js";
import type { RelationshipType, TaskPriority, TaskStatus } from "./value-sets.js";

export interface RelationshipRow {
  id: string;
  sourceTaskId: string;
  targetTaskId: string;
  type: RelationshipType;
  strength: number;
  note: string | null;
  createdBy: string | null;
  createdAt: Date;
  /** Id of the inverse/mirror row (always present unless the data was edited by hand). */
  inverseId: string | null;
}

export const INVERSE_TYPE: Readonly<Record<RelationshipType, RelationshipType>> = {
  blocks: "blocked_by",
  blocked_by: "blocks",
  depends_on: "dependency_of",
  dependency_of: "depends_on",
  relates_to: "relates_to",
  duplicates: "duplicated_by",
  duplicated_by: "duplicates",
  parent_of: "child_of",
  child_of: "parent_of",
  follows: "precedes",
  precedes: "follows",
  conflicts_with: "conflicts_with",
};

/** Types whose rows are precedence edges (source before target) once the inverse is considered. */
const PRECEDENCE_SOURCE_FIRST: readonly RelationshipType[] = ["blocks", "dependency_of", "precedes"];
const PRECEDENCE_TARGET_FIRST: readonly RelationshipType[] = ["blocked_by", "depends_on", "follows"];
const PRECEDENCE_SQL = `('blocks', 'dependency_of', 'precedes')`;

/** For a precedence-family type, the new edge as (before, after); `null` for the other types. */
export function precedenceEdge(
  type: RelationshipType,
  source: string,
  target: string,
): { before: string; after: string } | null {
  if (PRECEDENCE_SOURCE_FIRST.includes(type)) return { before: source, after: target };
  if (PRECEDENCE_TARGET_FIRST.includes(type)) return { before: target, after: source };
  return null;
}

const INVERSE_CASE = `case r.type ${Object.entries(INVERSE_TYPE)
  .map(([t, i]) => `when '${t}' then '${i}'`)
  .join(" ")} end`;

const SELECT_LIST = `x.id, x.source_task_id, x.target_task_id, x.type, x.strength, x.note, x.created_by, x.created_at,
  (select i.id from task_relationships i where i.source_task_id = x.target_task_id and i.target_task_id = x.source_task_id
     and i.type = ${INVERSE_CASE.replaceAll("r.type", "x.type")}) as inverse_id`;

function rowFromDb(raw: Record<string, unknown>): RelationshipRow {
  return {
    id: String(raw.id),
    sourceTaskId: String(raw.source_task_id),
    targetTaskId: String(raw.target_task_id),
    type: raw.type as RelationshipType,
    strength: Number(raw.strength),
    note: raw.note === null || raw.note === undefined ? null : String(raw.note),
    createdBy: raw.created_by === null || raw.created_by === undefined ? null : String(raw.created_by),
    createdAt: raw.created_at instanceof Date ? raw.created_at : new Date(String(raw.created_at)),
    inverseId: raw.inverse_id === null || raw.inverse_id === undefined ? null : String(raw.inverse_id),
  };
}

export interface CreateRelationshipInput {
  sourceTaskId: string;
  targetTaskId: string;
  type: RelationshipType;
  strength: number;
  note: string | null;
}

export type CreateRelationshipResult =
  | { ok: true; row: RelationshipRow | null }
  | { ok: false; reason: "source_not_found" | "target_not_found" | "already_exists" }
  /** `path`: task ids along the cycle, starting and ending with the new edge's "before" task. */
  | { ok: false; reason: "cycle"; path: string[] };

export type RelationshipListField = "type" | "target_task" | "strength" | "source_task";
export type RelationshipOrderField = "create_time" | "strength" | "type";

const LIST_COLUMNS: Readonly<Record<RelationshipListField | RelationshipOrderField, ColumnSpec>> = {
  type: { expr: "x.type", cast: "text" },
  target_task: { expr: "x.target_task_id", cast: "uuid" },
  source_task: { expr: "x.source_task_id", cast: "uuid" },
  strength: { expr: "x.strength", cast: "int" },
  create_time: { expr: "x.created_at", cast: "timestamptz" },
};

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

export class RelationshipRepository {
  constructor(private readonly em: EntityManager) {}

  private exec(em: EntityManager, sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
    return em.getConnection().execute(sql, params, "all", em.getTransactionContext());
  }

  /** Whether a live (not soft-deleted) task exists. */
  async taskExists(id: string): Promise<boolean> {
    const rows = await this.exec(this.em, "select 1 from tasks where id = ? and deleted_at is null", [id]);
    return rows.length > 0;
  }

  async getById(sourceTaskId: string, id: string): Promise<RelationshipRow | null> {
    const rows = await this.exec(
      this.em,
      `select ${SELECT_LIST} from task_relationships x where x.id = ? and x.source_task_id = ?`,
      [id, sourceTaskId],
    );
    return rows[0] ? rowFromDb(rows[0]) : null;
  }

  private async findByRequestId(em: EntityManager, requestId: string): Promise<RelationshipRow | null> {
    const rows = await this.exec(
      em,
      `select ${SELECT_LIST} from idempotency_keys k join task_relationships x on x.id = k.resource_id::uuid
       where k.scope = 'relationship.create' and k.request_id = ?`,
      [requestId],
    );
    return rows[0] ? rowFromDb(rows[0]) : null;
  }

  /**
   * Creates the relationship and its inverse/mirror (checks: both tasks live, no duplicate, no precedence
   * cycle). With `validateOnly` every check runs but nothing is written (`row` is null).
   */
  async create(
    input: CreateRelationshipInput,
    ctx: WriteContext & { validateOnly?: boolean } = {},
  ): Promise<CreateRelationshipResult> {
    if (ctx.requestId && !ctx.validateOnly) {
      const existing = await this.findByRequestId(this.em, ctx.requestId);
      if (existing) return { ok: true, row: existing };
    }
    try {
      return await this.em.transactional(async (em) => {
        const tasks = await this.exec(
          em,
          "select id from tasks where id in (?, ?) and deleted_at is null order by id for share",
          [input.sourceTaskId, input.targetTaskId],
        );
        const live = new Set(tasks.map((t) => String(t.id)));
        if (!live.has(input.sourceTaskId)) return { ok: false, reason: "source_not_found" } as const;
        if (!live.has(input.targetTaskId)) return { ok: false, reason: "target_not_found" } as const;

        const edge = precedenceEdge(input.type, input.sourceTaskId, input.targetTaskId);
        if (edge) {
          await this.exec(em, "select pg_advisory_xact_lock(hashtext('task_relationships.precedence'))", []);
        }
        const dup = await this.exec(
          em,
          `select 1 from task_relationships where (source_task_id = ? and target_task_id = ? and type = ?)
             or (source_task_id = ? and target_task_id = ? and type = ?)`,
          [
            input.sourceTaskId,
            input.targetTaskId,
            input.type,
            input.targetTaskId,
            input.sourceTaskId,
            INVERSE_TYPE[input.type],
          ],
        );
        if (dup.length > 0) return { ok: false, reason: "already_exists" } as const;

        if (edge) {
          const path = await this.findPrecedencePath(em, edge.after, edge.before);
          if (path) return { ok: false, reason: "cycle", path: [edge.before, ...path] } as const;
        }
        if (ctx.validateOnly) return { ok: true, row: null } as const;

        const id = newId();
        const inverseId = newId();
        const insert = `insert into task_relationships (id, source_task_id, target_task_id, type, strength, note, created_by)
          values (?, ?, ?, ?, ?, ?, ?)`;
        const actor = ctx.actor ?? null;
        await this.exec(em, insert, [
          id,
          input.sourceTaskId,
          input.targetTaskId,
          input.type,
          input.strength,
          input.note,
          actor,
        ]);
        await this.exec(em, insert, [
          inverseId,
          input.targetTaskId,
          input.sourceTaskId,
          INVERSE_TYPE[input.type],
          input.strength,
          input.note,
          actor,
        ]);
        for (const [taskId, relId, type, other] of [
          [input.sourceTaskId, id, input.type, input.targetTaskId],
          [input.targetTaskId, inverseId, INVERSE_TYPE[input.type], input.sourceTaskId],
        ] as const) {
          await this.exec(em, INSERT_TASK_EVENT_SQL, [
            taskId,
            "task.relationship",
            JSON.stringify({ action: "created", relationshipId: relId, type, targetTaskId: other }),
            actor,
            ctx.requestId ?? null,
            ctx.traceId ?? null,
          ]);
        }
        if (ctx.requestId) {
          await storeIdempotentResource(em, "relationship.create", ctx.requestId, id);
        }
        const rows = await this.exec(em, `select ${SELECT_LIST} from task_relationships x where x.id = ?`, [
          id,
        ]);
        return { ok: true, row: rows[0] ? rowFromDb(rows[0]) : null } as const;
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        // A concurrent retry with the same request id won: return its relationship.
        if (ctx.requestId) {
          const existing = await this.findByRequestId(this.em, ctx.requestId);
          if (existing) return { ok: true, row: existing };
        }
        return { ok: false, reason: "already_exists" };
      }
      throw err;
    }
  }

  /**
   * A path `from` ->* `to` over precedence edges (ids, `from` first, `to` last), or null when `to` is not
   * reachable. Reachability first (set semantics, linear), then the shortest witness path (breadth-first,
   * stops at the first hit).
   */
  private async findPrecedencePath(em: EntityManager, from: string, to: string): Promise<string[] | null> {
    const reach = await this.exec(
      em,
      `with recursive reach(node) as (
         select ?::uuid
         union
         select r.target_task_id from reach w
           join task_relationships r on r.source_task_id = w.node and r.type in ${PRECEDENCE_SQL}
       )
       select exists (select 1 from reach where node = ?::uuid) as hit`,
      [from, to],
    );
    if (!reach[0]?.hit) return null;
    const walk = await this.exec(
      em,
      `with recursive walk(node, path) as (
         select ?::uuid, array[?::uuid]
         union all
         select r.target_task_id, w.path || r.target_task_id from walk w
           join task_relationships r on r.source_task_id = w.node and r.type in ${PRECEDENCE_SQL}
         where r.target_task_id <> all(w.path) and cardinality(w.path) < 100
       )
       select array_to_string(path, ',') as path from walk where node = ?::uuid limit 1`,
      [from, from, to],
    );
    const found = walk[0]?.path;
    return typeof found === "string" ? found.split(",") : [from, to];
  }

  /** Deletes the relationship and its inverse/mirror; false when it does not exist. */
  async delete(sourceTaskId: string, id: string, ctx: WriteContext = {}): Promise<boolean> {
    return this.em.transactional(async (em) => {
      const deleted = await this.exec(
        em,
        `delete from task_relationships r where r.id = ? and r.source_task_id = ?
         returning r.id, r.source_task_id, r.target_task_id, r.type, ${INVERSE_CASE} as inverse_type`,
        [id, sourceTaskId],
      );
      const row = deleted[0];
      if (!row) return false;
      const inverse = await this.exec(
        em,
        `delete from task_relationships where source_task_id = ? and target_task_id = ? and type = ? returning id`,
        [row.target_task_id, row.source_task_id, row.inverse_type],
      );
      const events: [unknown, unknown, unknown, unknown][] = [
        [row.source_task_id, row.id, row.type, row.target_task_id],
      ];
      if (inverse[0]) events.push([row.target_task_id, inverse[0].id, row.inverse_type, row.source_task_id]);
      for (const [taskId, relId, type, other] of events) {
        await this.exec(em, INSERT_TASK_EVENT_SQL, [
          taskId,
          "task.relationship",
          JSON.stringify({ action: "deleted", relationshipId: relId, type, targetTaskId: other }),
          ctx.actor ?? null,
          ctx.requestId ?? null,
          ctx.traceId ?? null,
        ]);
      }
      return true;
    });
  }

  /** One page of relationships (of `sourceTaskId`, or of every task when null). */
  list(
    sourceTaskId: string | null,
    query: ListQuery<RelationshipListField, RelationshipOrderField>,
  ): Promise<Page<RelationshipRow>> {
    return listPage(
      this.em,
      {
        selectList: SELECT_LIST,
        from: "task_relationships x",
        baseWhere: sourceTaskId === null ? [] : ["x.source_task_id = ?"],
        baseParams: sourceTaskId === null ? [] : [sourceTaskId],
        columns: LIST_COLUMNS,
        map: rowFromDb,
      },
      query,
    );
  }

  /**
   * Breadth-first walk from `rootId` over rows of the given types (outgoing from each reached task, soft-
   * deleted tasks skipped), each node at its minimal depth; nodes beyond `maxNodes` (deepest first) are cut.
   */
  async dependencyGraph(
    rootId: string,
    types: readonly RelationshipType[],
    maxDepth: number,
    maxNodes: number,
  ): Promise<DependencyGraphResult> {
    const typeSql = sqlList(types);
    const rows = await this.exec(
      this.em,
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
    const edges = await this.exec(
      this.em,
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
  async scopeExists(scope: CriticalPathScope): Promise<boolean> {
    const table = { task: "tasks", epic: "tasks", sprint: "sprints", release: "releases" }[scope.kind];
    const rows = await this.exec(this.em, `select 1 from ${table} where id = ? and deleted_at is null`, [
      scope.id,
    ]);
    return rows.length > 0;
  }

  /**
   * The tasks of a critical-path scope and the precedence edges among them (before -> after). Bounded by
   * {@link CRITICAL_PATH_MAX_TASKS}; `tooLarge` when the scope holds more.
   */
  async criticalPathGraph(
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
    const rows = await this.exec(
      this.em,
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
    const edgeRows = await this.exec(
      this.em,
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
}
