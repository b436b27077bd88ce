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
import { createOnce } from "./idempotency.js";
import { newId } from "./ids.js";
import type { ColumnSpec, ListQuery, Page, WriteContext } from "./list-page.js";
import { listKeysetPage } from "./list-page.js";
import {
  type CriticalPathScope,
  type CriticalPathTask,
  criticalPathGraph,
  type DependencyGraphResult,
  dependencyGraph,
  scopeExists,
} from "./relationship-graph.repository.js";
import { INVERSE_TYPE, inverseCaseSql, PRECEDENCE_SQL, precedenceEdge } from "./relationship-types.js";
import { query, type Row, sql } from "./sql-toolkit.js";
import { insertTaskEvent } from "./task-events.js";
import type { RelationshipType } from "./value-sets.js";

export * from "./relationship-graph.repository.js";
export { INVERSE_TYPE, precedenceEdge } from "./relationship-types.js";

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

const SELECT_LIST = `x.id, x.source_task_id, x.target_task_id, x.type, x.strength, x.note, x.created_by, x.created_at,
  (select i.id from task_relationships i where i.source_task_id = x.target_task_id and i.target_task_id = x.source_task_id
     and i.type = ${inverseCaseSql("x.type")}) as inverse_id`;

const PRECEDENCE = sql.raw(PRECEDENCE_SQL);

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

export class RelationshipRepository {
  constructor(private readonly em: EntityManager) {}

  /** Whether a live (not soft-deleted) task exists. */
  async taskExists(id: string): Promise<boolean> {
    const rows = await query(this.em, sql`select 1 from tasks where id = ${id} and deleted_at is null`);
    return rows.length > 0;
  }

  async getById(sourceTaskId: string, id: string): Promise<RelationshipRow | null> {
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(SELECT_LIST)} from task_relationships x
        where x.id = ${id} and x.source_task_id = ${sourceTaskId}`,
    );
    return rows[0] ? rowFromDb(rows[0]) : null;
  }

  private async getCreated(em: EntityManager, id: string): Promise<RelationshipRow | null> {
    const rows = await query(
      em,
      sql<Row>`select ${sql.raw(SELECT_LIST)} from task_relationships x where x.id = ${id}::uuid`,
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
    try {
      return await createOnce<CreateRelationshipResult>(this.em, {
        scope: "relationship.create",
        requestId: ctx.validateOnly ? null : ctx.requestId,
        replay: async (em, id) => {
          const row = await this.getCreated(em, id);
          return row ? { ok: true, row } : null;
        },
        create: (em) => this.createPair(em, input, ctx),
      });
    } catch (err) {
      // A concurrent create of the same pair (another request id, or none) won.
      if (isUniqueViolation(err)) return { ok: false, reason: "already_exists" };
      throw err;
    }
  }

  /** The checks and inserts of `create`, in its transaction; `resourceId` is the created row (null: none). */
  private async createPair(
    em: EntityManager,
    input: CreateRelationshipInput,
    ctx: WriteContext & { validateOnly?: boolean },
  ): Promise<{ result: CreateRelationshipResult; resourceId: string | null }> {
    const refused = (result: CreateRelationshipResult) => ({ result, resourceId: null });
    const tasks = await query(
      em,
      sql<Row>`select id from tasks where id in (${input.sourceTaskId}, ${input.targetTaskId}) and deleted_at is null
        order by id for share`,
    );
    const live = new Set(tasks.map((t) => String(t.id)));
    if (!live.has(input.sourceTaskId)) return refused({ ok: false, reason: "source_not_found" });
    if (!live.has(input.targetTaskId)) return refused({ ok: false, reason: "target_not_found" });

    const edge = precedenceEdge(input.type, input.sourceTaskId, input.targetTaskId);
    if (edge) {
      await query(em, sql`select pg_advisory_xact_lock(hashtext('task_relationships.precedence'))`);
    }
    const dup = await query(
      em,
      sql`select 1 from task_relationships
        where (source_task_id = ${input.sourceTaskId} and target_task_id = ${input.targetTaskId} and type = ${input.type})
         or (source_task_id = ${input.targetTaskId} and target_task_id = ${input.sourceTaskId}
             and type = ${INVERSE_TYPE[input.type]})`,
    );
    if (dup.length > 0) return refused({ ok: false, reason: "already_exists" });

    if (edge) {
      const path = await this.findPrecedencePath(em, edge.after, edge.before);
      if (path) return refused({ ok: false, reason: "cycle", path: [edge.before, ...path] });
    }
    if (ctx.validateOnly) return refused({ ok: true, row: null });

    const id = newId();
    const inverseId = newId();
    const actor = ctx.actor ?? null;
    await query(
      em,
      sql`insert into task_relationships (id, source_task_id, target_task_id, type, strength, note, created_by)
        values (${id}, ${input.sourceTaskId}, ${input.targetTaskId}, ${input.type}, ${input.strength}, ${input.note},
                ${actor}),
               (${inverseId}, ${input.targetTaskId}, ${input.sourceTaskId}, ${INVERSE_TYPE[input.type]},
                ${input.strength}, ${input.note}, ${actor})`,
    );
    for (const [taskId, relId, type, other] of [
      [input.sourceTaskId, id, input.type, input.targetTaskId],
      [input.targetTaskId, inverseId, INVERSE_TYPE[input.type], input.sourceTaskId],
    ] as const) {
      await insertTaskEvent(
        em,
        taskId,
        "task.relationship",
        { action: "created", relationshipId: relId, type, targetTaskId: other },
        { ...ctx, actor },
      );
    }
    return { result: { ok: true, row: await this.getCreated(em, id) }, resourceId: id };
  }

  /**
   * A path `from` ->* `to` over precedence edges (ids, `from` first, `to` last), or null when `to` is not
   * reachable. Reachability first (set semantics, linear), then the shortest witness path (breadth-first,
   * stops at the first hit).
   */
  private async findPrecedencePath(em: EntityManager, from: string, to: string): Promise<string[] | null> {
    const reach = await query(
      em,
      sql<Row>`with recursive reach(node) as (
         select ${from}::uuid
         union
         select r.target_task_id from reach w
           join task_relationships r on r.source_task_id = w.node and r.type in ${PRECEDENCE}
       )
       select exists (select 1 from reach where node = ${to}::uuid) as hit`,
    );
    if (!reach[0]?.hit) return null;
    const walk = await query(
      em,
      sql<Row>`with recursive walk(node, path) as (
         select ${from}::uuid, array[${from}::uuid]
         union all
         select r.target_task_id, w.path || r.target_task_id from walk w
           join task_relationships r on r.source_task_id = w.node and r.type in ${PRECEDENCE}
         where r.target_task_id <> all(w.path) and cardinality(w.path) < 100
       )
       select array_to_string(path, ',') as path from walk where node = ${to}::uuid limit 1`,
    );
    const found = walk[0]?.path;
    return typeof found === "string" ? found.split(",") : [from, to];
  }

  /** Deletes the relationship and its inverse/mirror; false when it does not exist. */
  async delete(sourceTaskId: string, id: string, ctx: WriteContext = {}): Promise<boolean> {
    return this.em.transactional(async (em) => {
      const deleted = await query(
        em,
        sql<Row>`delete from task_relationships r where r.id = ${id} and r.source_task_id = ${sourceTaskId}
         returning r.id, r.source_task_id, r.target_task_id, r.type, ${sql.raw(inverseCaseSql("r.type"))} as inverse_type`,
      );
      const row = deleted[0];
      if (!row) return false;
      const inverse = await query(
        em,
        sql<Row>`delete from task_relationships
          where source_task_id = ${row.target_task_id} and target_task_id = ${row.source_task_id} and type = ${row.inverse_type}
          returning id`,
      );
      const events: [unknown, unknown, unknown, unknown][] = [
        [row.source_task_id, row.id, row.type, row.target_task_id],
      ];
      if (inverse[0]) events.push([row.target_task_id, inverse[0].id, row.inverse_type, row.source_task_id]);
      for (const [taskId, relId, type, other] of events) {
        await insertTaskEvent(
          em,
          String(taskId),
          "task.relationship",
          { action: "deleted", relationshipId: relId, type, targetTaskId: other },
          ctx,
        );
      }
      return true;
    });
  }

  /** One page of relationships (of `sourceTaskId`, or of every task when null). */
  list(
    sourceTaskId: string | null,
    query: ListQuery<RelationshipListField, RelationshipOrderField>,
  ): Promise<Page<RelationshipRow>> {
    return listKeysetPage(
      this.em,
      {
        selectList: SELECT_LIST,
        from: "task_relationships x",
        where: sourceTaskId === null ? [] : [sql`x.source_task_id = ${sourceTaskId}`],
        columns: LIST_COLUMNS,
        map: rowFromDb,
      },
      query,
    );
  }

  /** See {@link dependencyGraph}. */
  dependencyGraph(
    rootId: string,
    types: readonly RelationshipType[],
    maxDepth: number,
    maxNodes: number,
  ): Promise<DependencyGraphResult> {
    return dependencyGraph(this.em, rootId, types, maxDepth, maxNodes);
  }

  /** See {@link scopeExists}. */
  scopeExists(scope: CriticalPathScope): Promise<boolean> {
    return scopeExists(this.em, scope);
  }

  /** See {@link criticalPathGraph}. */
  criticalPathGraph(
    scope: CriticalPathScope,
    excludeDone: boolean,
  ): Promise<{ tasks: CriticalPathTask[]; edges: [string, string][]; tooLarge: boolean }> {
    return criticalPathGraph(this.em, scope, excludeDone);
  }
}
