/**
 * Milestone persistence (raw SQL on the request's EntityManager). Every write bumps `version`/`updated_at`;
 * deleting a milestone clears `tasks.milestone_id` with a version bump and a `task.updated` outbox event per
 * task in the same transaction. `reached_at` follows the state (set on entering REACHED, cleared on leaving).
 */
import type { EntityManager } from "@mikro-orm/core";
import { createOnce } from "./idempotency.js";
import { newId } from "./ids.js";
import type { ColumnSpec, ListQuery, Page, WriteContext } from "./list-page.js";
import { listKeysetPage } from "./list-page.js";
import { clearTaskReference } from "./release.repository.js";
import { query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import type { MilestoneStatus } from "./value-sets.js";

export interface MilestoneRow {
  id: string;
  name: string;
  description: string | null;
  status: MilestoneStatus;
  dueAt: Date | null;
  reachedAt: Date | null;
  releaseId: string | null;
  taskCount: number;
  completedTaskCount: number;
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

export interface MilestoneFields {
  name: string;
  description: string | null;
  status: MilestoneStatus;
  dueAt: Date | null;
  releaseId: string | null;
}

export type MilestoneListField = "state" | "due_time" | "release";
export type MilestoneOrderField = "due_time" | "display_name";

const MILESTONE_COLUMNS: Readonly<Record<MilestoneListField | MilestoneOrderField, ColumnSpec>> = {
  state: { expr: "x.status", cast: "text" },
  due_time: { expr: "x.due_date", cast: "timestamptz" },
  release: { expr: "x.release_id", cast: "uuid" },
  display_name: { expr: "x.name", cast: "text" },
};

const MILESTONE_SELECT = `x.id, x.name, x.description, x.status, x.due_date, x.reached_at, x.release_id,
  x.created_at, x.updated_at, x.version,
  (select count(*) from tasks t where t.milestone_id = x.id and t.deleted_at is null)::int as task_count,
  (select count(*) from tasks t
     where t.milestone_id = x.id and t.deleted_at is null and t.status = 'completed')::int as completed_task_count`;

const date = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(v as string));

function milestoneFromDb(r: Record<string, unknown>): MilestoneRow {
  return {
    id: String(r.id),
    name: String(r.name),
    description: r.description === null ? null : String(r.description),
    status: r.status as MilestoneStatus,
    dueAt: date(r.due_date),
    reachedAt: date(r.reached_at),
    releaseId: r.release_id === null ? null : String(r.release_id),
    taskCount: Number(r.task_count),
    completedTaskCount: Number(r.completed_task_count),
    createdAt: date(r.created_at) as Date,
    updatedAt: date(r.updated_at) as Date,
    version: Number(r.version),
  };
}

/** Why a milestone write was refused. */
export type MilestoneFailure =
  | { ok: false; reason: "not_found" | "stale" | "release_not_found" }
  | { ok: false; reason: "has_tasks"; taskCount: number };

export type MilestoneResult<T> = ({ ok: true } & T) | MilestoneFailure;

/** Share-locks a live release so it cannot be deleted before this transaction commits. */
async function releaseExists(em: EntityManager, releaseId: string): Promise<boolean> {
  const rows = await query(
    em,
    sql`select 1 from releases where id = ${releaseId} and deleted_at is null for share`,
  );
  return rows.length > 0;
}

export class MilestoneRepository {
  constructor(private readonly em: EntityManager) {}

  async getMilestone(id: string, em: EntityManager = this.em): Promise<MilestoneRow | null> {
    const rows = await query(
      em,
      sql<Row>`select ${sql.raw(MILESTONE_SELECT)} from milestones x where x.id = ${id} and x.deleted_at is null`,
    );
    return rows[0] ? milestoneFromDb(rows[0]) : null;
  }

  listMilestones(query: ListQuery<MilestoneListField, MilestoneOrderField>): Promise<Page<MilestoneRow>> {
    return listKeysetPage(
      this.em,
      {
        selectList: MILESTONE_SELECT,
        from: "milestones x",
        where: [sql`x.deleted_at is null`],
        columns: MILESTONE_COLUMNS,
        map: milestoneFromDb,
      },
      query,
    );
  }

  async createMilestone(
    fields: MilestoneFields,
    ctx: WriteContext = {},
  ): Promise<MilestoneResult<{ milestone: MilestoneRow }>> {
    return createOnce<MilestoneResult<{ milestone: MilestoneRow }>>(this.em, {
      scope: "milestone.create",
      requestId: ctx.requestId,
      replay: async (em, id) => {
        const milestone = await this.getMilestone(id, em);
        return milestone ? { ok: true, milestone } : null;
      },
      create: async (em) => {
        if (fields.releaseId !== null && !(await releaseExists(em, fields.releaseId))) {
          return { result: { ok: false, reason: "release_not_found" }, resourceId: null };
        }
        const id = newId();
        await query(
          em,
          sql`insert into milestones (id, name, description, status, due_date, reached_at, release_id)
           values (${id}, ${fields.name}, ${fields.description}, ${fields.status}, ${fields.dueAt},
             case when ${fields.status}::text = 'reached' then now() end, ${fields.releaseId})`,
        );
        return {
          result: { ok: true, milestone: (await this.getMilestone(id, em)) as MilestoneRow },
          resourceId: id,
        };
      },
    });
  }

  /** Locks a live milestone row and checks the expected version. */
  private async lockMilestone(
    em: EntityManager,
    id: string,
    expectedVersion: number | null,
  ): Promise<MilestoneFailure | { ok: true }> {
    const rows = await query(
      em,
      sql<Row>`select version from milestones where id = ${id} and deleted_at is null for update`,
    );
    const row = rows[0];
    if (!row) return { ok: false, reason: "not_found" };
    if (expectedVersion !== null && Number(row.version) !== expectedVersion) {
      return { ok: false, reason: "stale" };
    }
    return { ok: true };
  }

  async updateMilestone(
    id: string,
    patch: Partial<MilestoneFields>,
    expectedVersion: number | null,
  ): Promise<MilestoneResult<{ milestone: MilestoneRow }>> {
    return this.em.transactional(async (em) => {
      const lock = await this.lockMilestone(em, id, expectedVersion);
      if (!lock.ok) return lock;
      if (patch.releaseId && !(await releaseExists(em, patch.releaseId))) {
        return { ok: false, reason: "release_not_found" } as const;
      }
      const sets: RawBuilder<unknown>[] = [];
      const columns: [keyof MilestoneFields, string][] = [
        ["name", "name"],
        ["description", "description"],
        ["dueAt", "due_date"],
        ["releaseId", "release_id"],
      ];
      for (const [key, column] of columns) {
        if (key in patch) sets.push(sql`${sql.ref(column)} = ${patch[key] ?? null}`);
      }
      if (patch.status !== undefined) {
        // reached_at: kept while staying REACHED, set on entering it, cleared on leaving it.
        sets.push(
          sql`reached_at = case when ${patch.status}::text = 'reached'
            then coalesce(case when status = 'reached' then reached_at end, now()) end`,
          sql`status = ${patch.status}`,
        );
      }
      sets.push(sql`version = version + 1`, sql`updated_at = now()`);
      await query(em, sql`update milestones set ${sql.join(sets)} where id = ${id}`);
      return { ok: true, milestone: (await this.getMilestone(id, em)) as MilestoneRow } as const;
    });
  }

  /** Soft-deletes a milestone; refused while live tasks reference it unless `force` (clears Task.milestone). */
  async deleteMilestone(
    id: string,
    force: boolean,
    expectedVersion: number | null,
    ctx: WriteContext = {},
  ): Promise<MilestoneResult<{ unassigned: number }>> {
    return this.em.transactional(async (em) => {
      const lock = await this.lockMilestone(em, id, expectedVersion);
      if (!lock.ok) return lock;
      const count = await query(
        em,
        sql<Row>`select count(*)::int as n from tasks where milestone_id = ${id} and deleted_at is null`,
      );
      const n = Number(count[0]?.n ?? 0);
      if (n > 0 && !force) return { ok: false, reason: "has_tasks", taskCount: n } as const;
      const cleared = await clearTaskReference(em, "milestone_id", "milestone", id, ctx);
      await query(
        em,
        sql`update milestones set deleted_at = now(), version = version + 1, updated_at = now() where id = ${id}`,
      );
      return { ok: true, unassigned: cleared.length } as const;
    });
  }
}
