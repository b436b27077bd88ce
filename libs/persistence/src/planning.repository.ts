/**
 * Sprint persistence (raw SQL on the request's EntityManager). Every write bumps `version`/`updated_at`;
 * every task it touches gets `version = version + 1, updated_at = now()` and a `task.updated` outbox event
 * in the same transaction. "At most one ACTIVE sprint" is enforced under a transaction-scoped advisory lock.
 */

import type { EntityManager } from "@mikro-orm/core";
import { isUniqueViolation } from "./db-errors.js";
import { createOnce } from "./idempotency.js";
import { newId } from "./ids.js";
import type { ColumnSpec, ListQuery, Page, WriteContext } from "./list-page.js";
import { listKeysetPage } from "./list-page.js";
import { query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import { TASK_SELECT_LIST, type TaskRow, taskRowFromDb } from "./task.repository.js";
import { insertTaskEvent } from "./task-events.js";
import type { SprintStatus } from "./value-sets.js";

export interface SprintRow {
  id: string;
  name: string;
  goal: string | null;
  status: SprintStatus;
  startsAt: Date | null;
  endsAt: Date | null;
  capacityPoints: number | null;
  plannedPoints: number;
  completedPoints: number;
  taskCount: number;
  closedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

export interface SprintFields {
  name: string;
  goal: string | null;
  startsAt: Date | null;
  endsAt: Date | null;
  capacityPoints: number | null;
}

export type SprintListField = "state" | "start_time" | "end_time";
export type SprintOrderField = "start_time" | "end_time" | "display_name";

const SPRINT_COLUMNS: Readonly<Record<SprintListField | SprintOrderField, ColumnSpec>> = {
  state: { expr: "x.status", cast: "text" },
  start_time: { expr: "x.starts_at", cast: "timestamptz" },
  end_time: { expr: "x.ends_at", cast: "timestamptz" },
  display_name: { expr: "x.name", cast: "text" },
};

const SPRINT_SELECT = `x.id, x.name, x.goal, x.status, x.starts_at, x.ends_at, x.capacity_points, x.closed_at,
  x.created_at, x.updated_at, x.version,
  (select count(*) from tasks t where t.sprint_id = x.id and t.deleted_at is null)::int as task_count,
  (select coalesce(sum(t.story_points), 0) from tasks t where t.sprint_id = x.id and t.deleted_at is null)::int
    as planned_points,
  (select coalesce(sum(t.story_points), 0) from tasks t
     where t.sprint_id = x.id and t.deleted_at is null and t.status = 'completed')::int as completed_points`;

/** Statuses that count as done when closing a sprint (those tasks stay in it). */
const DONE_SQL = sql.raw(`('completed', 'cancelled', 'archived', 'failed')`);

const date = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(v as string));

function sprintFromDb(r: Record<string, unknown>): SprintRow {
  return {
    id: String(r.id),
    name: String(r.name),
    goal: r.goal === null ? null : String(r.goal),
    status: r.status as SprintStatus,
    startsAt: date(r.starts_at),
    endsAt: date(r.ends_at),
    capacityPoints: r.capacity_points === null ? null : Number(r.capacity_points),
    plannedPoints: Number(r.planned_points),
    completedPoints: Number(r.completed_points),
    taskCount: Number(r.task_count),
    closedAt: date(r.closed_at),
    createdAt: date(r.created_at) as Date,
    updatedAt: date(r.updated_at) as Date,
    version: Number(r.version),
  };
}

/** Why a sprint write was refused. */
export type SprintFailure =
  | { ok: false; reason: "not_found" | "stale" | "name_taken" | "destination_not_found" }
  | { ok: false; reason: "bad_state"; state: SprintStatus }
  | { ok: false; reason: "has_tasks"; taskCount: number }
  | { ok: false; reason: "other_active"; activeId: string }
  | { ok: false; reason: "tasks_not_found"; taskIds: string[] };

export type SprintResult<T> = ({ ok: true } & T) | SprintFailure;

export class PlanningRepository {
  constructor(private readonly em: EntityManager) {}

  async getSprint(id: string, em: EntityManager = this.em): Promise<SprintRow | null> {
    const rows = await query(
      em,
      sql<Row>`select ${sql.raw(SPRINT_SELECT)} from sprints x where x.id = ${id} and x.deleted_at is null`,
    );
    return rows[0] ? sprintFromDb(rows[0]) : null;
  }

  listSprints(query: ListQuery<SprintListField, SprintOrderField>): Promise<Page<SprintRow>> {
    return listKeysetPage(
      this.em,
      {
        selectList: SPRINT_SELECT,
        from: "sprints x",
        where: [sql`x.deleted_at is null`],
        columns: SPRINT_COLUMNS,
        map: sprintFromDb,
      },
      query,
    );
  }

  async createSprint(
    fields: SprintFields,
    ctx: WriteContext = {},
  ): Promise<SprintResult<{ sprint: SprintRow }>> {
    try {
      return await createOnce<SprintResult<{ sprint: SprintRow }>>(this.em, {
        scope: "sprint.create",
        requestId: ctx.requestId,
        replay: async (em, id) => {
          const sprint = await this.getSprint(id, em);
          return sprint ? { ok: true, sprint } : null;
        },
        create: async (em) => {
          const id = newId();
          await query(
            em,
            sql`insert into sprints (id, name, goal, starts_at, ends_at, capacity_points)
              values (${id}, ${fields.name}, ${fields.goal}, ${fields.startsAt}, ${fields.endsAt}, ${fields.capacityPoints})`,
          );
          return {
            result: { ok: true, sprint: (await this.getSprint(id, em)) as SprintRow },
            resourceId: id,
          };
        },
      });
    } catch (err) {
      if (isUniqueViolation(err, "sprints_name_live_uniq")) return { ok: false, reason: "name_taken" };
      throw err;
    }
  }

  /** Locks a live sprint row and checks the expected version. */
  private async lockSprint(
    em: EntityManager,
    id: string,
    expectedVersion: number | null,
  ): Promise<SprintFailure | { ok: true; status: SprintStatus }> {
    const rows = await query(
      em,
      sql<Row>`select status, version from sprints where id = ${id} and deleted_at is null for update`,
    );
    const row = rows[0];
    if (!row) return { ok: false, reason: "not_found" };
    if (expectedVersion !== null && Number(row.version) !== expectedVersion)
      return { ok: false, reason: "stale" };
    return { ok: true, status: row.status as SprintStatus };
  }

  async updateSprint(
    id: string,
    patch: Partial<SprintFields>,
    expectedVersion: number | null,
  ): Promise<SprintResult<{ sprint: SprintRow }>> {
    try {
      return await this.em.transactional(async (em) => {
        const lock = await this.lockSprint(em, id, expectedVersion);
        if (!lock.ok) return lock;
        const columns: [keyof SprintFields, string][] = [
          ["name", "name"],
          ["goal", "goal"],
          ["startsAt", "starts_at"],
          ["endsAt", "ends_at"],
          ["capacityPoints", "capacity_points"],
        ];
        const sets: RawBuilder<unknown>[] = [];
        for (const [key, column] of columns) {
          if (key in patch) sets.push(sql`${sql.ref(column)} = ${patch[key] ?? null}`);
        }
        sets.push(sql`version = version + 1`, sql`updated_at = now()`);
        await query(em, sql`update sprints set ${sql.join(sets)} where id = ${id}`);
        return { ok: true, sprint: (await this.getSprint(id, em)) as SprintRow } as const;
      });
    } catch (err) {
      if (isUniqueViolation(err, "sprints_name_live_uniq")) return { ok: false, reason: "name_taken" };
      throw err;
    }
  }

  /** Moves tasks (matching `where`) to `sprintId` (null = backlog) with version bump and events; returns ids. */
  private async moveTasks(
    em: EntityManager,
    where: RawBuilder<unknown>,
    sprintId: string | null,
    ctx: WriteContext,
  ): Promise<string[]> {
    const moved = await query(
      em,
      sql<Row>`update tasks t set sprint_id = ${sprintId}::uuid, version = version + 1, updated_at = now()
       where ${where} and t.deleted_at is null and t.sprint_id is distinct from ${sprintId}::uuid
       returning t.id, t.sprint_id`,
    );
    for (const row of moved) {
      await insertTaskEvent(em, String(row.id), "task.updated", { fields: ["sprint"], sprintId }, ctx);
    }
    return moved.map((r) => String(r.id));
  }

  async deleteSprint(
    id: string,
    force: boolean,
    expectedVersion: number | null,
    ctx: WriteContext = {},
  ): Promise<SprintResult<{ unassigned: number }>> {
    return this.em.transactional(async (em) => {
      const lock = await this.lockSprint(em, id, expectedVersion);
      if (!lock.ok) return lock;
      const count = await query(
        em,
        sql<Row>`select count(*)::int as n from tasks where sprint_id = ${id} and deleted_at is null`,
      );
      const n = Number(count[0]?.n ?? 0);
      if (n > 0 && !force) return { ok: false, reason: "has_tasks", taskCount: n } as const;
      const moved = await this.moveTasks(em, sql`t.sprint_id = ${id}`, null, ctx);
      await query(
        em,
        sql`update sprints set deleted_at = now(), version = version + 1, updated_at = now() where id = ${id}`,
      );
      return { ok: true, unassigned: moved.length } as const;
    });
  }

  async startSprint(
    id: string,
    expectedVersion: number | null,
  ): Promise<SprintResult<{ sprint: SprintRow }>> {
    return this.em.transactional(async (em) => {
      await query(em, sql`select pg_advisory_xact_lock(hashtext('sprints.active'))`);
      const lock = await this.lockSprint(em, id, expectedVersion);
      if (!lock.ok) return lock;
      if (lock.status !== "planned") return { ok: false, reason: "bad_state", state: lock.status } as const;
      const active = await query(
        em,
        sql<Row>`select id from sprints where status = 'active' and deleted_at is null and id <> ${id} limit 1`,
      );
      if (active[0]) return { ok: false, reason: "other_active", activeId: String(active[0].id) } as const;
      await query(
        em,
        sql`update sprints set status = 'active', version = version + 1, updated_at = now() where id = ${id}`,
      );
      return { ok: true, sprint: (await this.getSprint(id, em)) as SprintRow } as const;
    });
  }

  async closeSprint(
    id: string,
    destinationId: string | null,
    expectedVersion: number | null,
    ctx: WriteContext = {},
  ): Promise<SprintResult<{ sprint: SprintRow; moved: string[]; completed: number }>> {
    type Closed = SprintResult<{ sprint: SprintRow; moved: string[]; completed: number }>;
    return createOnce<Closed>(this.em, {
      scope: "sprint.close",
      requestId: ctx.requestId,
      replay: async (em, sprintId, response) => {
        const json = response as { moved: string[]; completed: number } | null;
        const sprint = sprintId === id && json ? await this.getSprint(id, em) : null;
        return json && sprint ? { ok: true, sprint, moved: json.moved, completed: json.completed } : null;
      },
      create: async (em) => {
        const lock = await this.lockSprint(em, id, expectedVersion);
        if (!lock.ok) return { result: lock, resourceId: null };
        if (lock.status !== "active" && lock.status !== "planned") {
          return { result: { ok: false, reason: "bad_state", state: lock.status }, resourceId: null };
        }
        if (destinationId !== null) {
          const dest = await query(
            em,
            sql<Row>`select status from sprints where id = ${destinationId} and deleted_at is null for share`,
          );
          if (!dest[0]) return { result: { ok: false, reason: "destination_not_found" }, resourceId: null };
          if (dest[0].status === "closed" || dest[0].status === "cancelled") {
            return {
              result: { ok: false, reason: "bad_state", state: dest[0].status as SprintStatus },
              resourceId: null,
            };
          }
        }
        const moved = await this.moveTasks(
          em,
          sql`t.sprint_id = ${id} and t.status not in ${DONE_SQL}`,
          destinationId,
          ctx,
        );
        const done = await query(
          em,
          sql<Row>`select count(*)::int as n from tasks
        where sprint_id = ${id} and deleted_at is null and status = 'completed'`,
        );
        const completed = Number(done[0]?.n ?? 0);
        await query(
          em,
          sql`update sprints set status = 'closed', closed_at = now(), version = version + 1, updated_at = now()
       where id = ${id}`,
        );
        const closed: Closed = {
          ok: true,
          sprint: (await this.getSprint(id, em)) as SprintRow,
          moved,
          completed,
        };
        return { result: closed, resourceId: id, response: { moved, completed } };
      },
    });
  }

  /** Assigns tasks to a sprint (or the backlog when null), all or nothing; returns the tasks in order. */
  async assignTasks(
    sprintId: string | null,
    taskIds: readonly string[],
    ctx: WriteContext = {},
  ): Promise<SprintResult<{ tasks: TaskRow[] }>> {
    return this.em.transactional(async (em) => {
      if (sprintId !== null) {
        const lock = await query(
          em,
          sql<Row>`select status from sprints where id = ${sprintId} and deleted_at is null for share`,
        );
        if (!lock[0]) return { ok: false, reason: "not_found" } as const;
        if (lock[0].status === "closed" || lock[0].status === "cancelled") {
          return { ok: false, reason: "bad_state", state: lock[0].status as SprintStatus } as const;
        }
      }
      const ids = sql`${taskIds}::uuid[]`;
      const live = await query(
        em,
        sql<Row>`select id from tasks where id = any(${ids}) and deleted_at is null order by id for update`,
      );
      const found = new Set(live.map((r) => String(r.id)));
      const missing = taskIds.filter((t) => !found.has(t));
      if (missing.length > 0) return { ok: false, reason: "tasks_not_found", taskIds: missing } as const;
      await this.moveTasks(em, sql`t.id = any(${ids})`, sprintId, ctx);
      const rows = await query(
        em,
        sql<Row>`select ${sql.raw(TASK_SELECT_LIST)} from tasks t where t.id = any(${ids})`,
      );
      const byId = new Map(rows.map((r) => [String(r.id), taskRowFromDb(r)]));
      return { ok: true, tasks: taskIds.map((t) => byId.get(t) as TaskRow) } as const;
    });
  }
}
