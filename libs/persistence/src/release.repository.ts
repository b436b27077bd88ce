/**
 * Release persistence (raw SQL on the request's EntityManager). Every write bumps `version`/`updated_at`;
 * deleting a release clears `tasks.release_id` (and `milestones.release_id`) with a version bump, and every
 * task touched gets a `task.updated` outbox event in the same transaction.
 *
 * The label the API calls `version` is stored in `version_label` (and mirrored into `name`, which the API
 * does not expose); `version` in this module is always the row's optimistic-concurrency counter.
 */

import type { EntityManager } from "@mikro-orm/core";
import { isUniqueViolation } from "./db-errors.js";
import { createOnce } from "./idempotency.js";
import { newId } from "./ids.js";
import type { ColumnSpec, ListQuery, Page, WriteContext } from "./list-page.js";
import { listKeysetPage } from "./list-page.js";
import { query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import { insertTaskEvent } from "./task-events.js";
import type { ReleaseStatus } from "./value-sets.js";

export interface ReleaseRow {
  id: string;
  label: string;
  description: string | null;
  status: ReleaseStatus;
  targetAt: Date | null;
  releasedAt: Date | null;
  taskCount: number;
  completedTaskCount: number;
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

export interface ReleaseFields {
  label: string;
  description: string | null;
  status: ReleaseStatus;
  targetAt: Date | null;
  /** Only meaningful with status "released"; null there means "now" (or keep the stored time). */
  releasedAt: Date | null;
}

export type ReleaseListField = "state" | "version" | "target_time" | "release_time";
export type ReleaseOrderField = "target_time" | "release_time" | "version";

const RELEASE_COLUMNS: Readonly<Record<ReleaseListField | ReleaseOrderField, ColumnSpec>> = {
  state: { expr: "x.status", cast: "text" },
  version: { expr: "x.version_label", cast: "text" },
  target_time: { expr: "x.target_date", cast: "timestamptz" },
  release_time: { expr: "x.released_at", cast: "timestamptz" },
};

const RELEASE_SELECT = `x.id, x.version_label, x.description, x.status, x.target_date, x.released_at,
  x.created_at, x.updated_at, x.version,
  (select count(*) from tasks t where t.release_id = x.id and t.deleted_at is null)::int as task_count,
  (select count(*) from tasks t
     where t.release_id = x.id and t.deleted_at is null and t.status = 'completed')::int as completed_task_count`;

const date = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(v as string));

function releaseFromDb(r: Record<string, unknown>): ReleaseRow {
  return {
    id: String(r.id),
    label: String(r.version_label),
    description: r.description === null ? null : String(r.description),
    status: r.status as ReleaseStatus,
    targetAt: date(r.target_date),
    releasedAt: date(r.released_at),
    taskCount: Number(r.task_count),
    completedTaskCount: Number(r.completed_task_count),
    createdAt: date(r.created_at) as Date,
    updatedAt: date(r.updated_at) as Date,
    version: Number(r.version),
  };
}

/** Why a release write was refused. */
export type ReleaseFailure =
  | { ok: false; reason: "not_found" | "stale" | "label_taken" | "release_time_not_released" }
  | { ok: false; reason: "has_tasks"; taskCount: number };

export type ReleaseResult<T> = ({ ok: true } & T) | ReleaseFailure;

/**
 * Clears `column` (release_id / milestone_id) on every task (live or soft-deleted, so an undelete cannot
 * resurrect a dangling reference) pointing at `id`, bumping each task's version and recording one
 * `task.updated` event per task. Returns the ids of the live tasks cleared.
 */
export async function clearTaskReference(
  em: EntityManager,
  column: "release_id" | "milestone_id",
  field: "release" | "milestone",
  id: string,
  ctx: WriteContext,
): Promise<string[]> {
  const cleared = await query(
    em,
    sql<Row>`update tasks t set ${sql.ref(column)} = null, version = version + 1, updated_at = now()
     where ${sql.ref(`t.${column}`)} = ${id} returning t.id, t.deleted_at is null as live`,
  );
  for (const row of cleared) {
    await insertTaskEvent(em, String(row.id), "task.updated", { fields: [field], [`${field}Id`]: null }, ctx);
  }
  return cleared.filter((r) => r.live === true).map((r) => String(r.id));
}

export class ReleaseRepository {
  constructor(private readonly em: EntityManager) {}

  async getRelease(id: string, em: EntityManager = this.em): Promise<ReleaseRow | null> {
    const rows = await query(
      em,
      sql<Row>`select ${sql.raw(RELEASE_SELECT)} from releases x where x.id = ${id} and x.deleted_at is null`,
    );
    return rows[0] ? releaseFromDb(rows[0]) : null;
  }

  listReleases(query: ListQuery<ReleaseListField, ReleaseOrderField>): Promise<Page<ReleaseRow>> {
    return listKeysetPage(
      this.em,
      {
        selectList: RELEASE_SELECT,
        from: "releases x",
        where: [sql`x.deleted_at is null`],
        columns: RELEASE_COLUMNS,
        map: releaseFromDb,
      },
      query,
    );
  }

  async createRelease(
    fields: ReleaseFields,
    ctx: WriteContext = {},
  ): Promise<ReleaseResult<{ release: ReleaseRow }>> {
    if (fields.status !== "released" && fields.releasedAt !== null) {
      return { ok: false, reason: "release_time_not_released" };
    }
    try {
      return await createOnce<ReleaseResult<{ release: ReleaseRow }>>(this.em, {
        scope: "release.create",
        requestId: ctx.requestId,
        replay: async (em, id) => {
          const release = await this.getRelease(id, em);
          return release ? { ok: true, release } : null;
        },
        create: async (em) => {
          const id = newId();
          await query(
            em,
            sql`insert into releases (id, name, version_label, description, status, target_date, released_at)
             values (${id}, ${fields.label}, ${fields.label}, ${fields.description}, ${fields.status}, ${fields.targetAt},
               case when ${fields.status}::text = 'released' then coalesce(${fields.releasedAt}::timestamptz, now()) end)`,
          );
          return {
            result: { ok: true, release: (await this.getRelease(id, em)) as ReleaseRow },
            resourceId: id,
          };
        },
      });
    } catch (err) {
      if (isUniqueViolation(err, "releases_version_label_live_uniq"))
        return { ok: false, reason: "label_taken" };
      throw err;
    }
  }

  /** Locks a live release row and checks the expected version. */
  private async lockRelease(
    em: EntityManager,
    id: string,
    expectedVersion: number | null,
  ): Promise<ReleaseFailure | { ok: true; status: ReleaseStatus; releasedAt: Date | null }> {
    const rows = await query(
      em,
      sql<Row>`select status, released_at, version from releases where id = ${id} and deleted_at is null for update`,
    );
    const row = rows[0];
    if (!row) return { ok: false, reason: "not_found" };
    if (expectedVersion !== null && Number(row.version) !== expectedVersion) {
      return { ok: false, reason: "stale" };
    }
    return { ok: true, status: row.status as ReleaseStatus, releasedAt: date(row.released_at) };
  }

  /**
   * Applies `patch`. The release time follows the state: entering (or staying in) RELEASED keeps the given
   * time, else the stored one, else now(); any other state clears it, and a release time given for a
   * release that is not RELEASED is refused.
   */
  async updateRelease(
    id: string,
    patch: Partial<ReleaseFields>,
    expectedVersion: number | null,
  ): Promise<ReleaseResult<{ release: ReleaseRow }>> {
    try {
      return await this.em.transactional(async (em) => {
        const lock = await this.lockRelease(em, id, expectedVersion);
        if (!lock.ok) return lock;
        const status = patch.status ?? lock.status;
        let releasedAt: Date | null = null;
        if (status === "released") {
          releasedAt =
            patch.releasedAt ?? (lock.status === "released" ? lock.releasedAt : null) ?? new Date();
        } else if (patch.releasedAt) {
          return { ok: false, reason: "release_time_not_released" } as const;
        }
        const sets: RawBuilder<unknown>[] = [sql`status = ${status}`, sql`released_at = ${releasedAt}`];
        if (patch.label !== undefined)
          sets.push(sql`name = ${patch.label}`, sql`version_label = ${patch.label}`);
        if ("description" in patch) sets.push(sql`description = ${patch.description ?? null}`);
        if ("targetAt" in patch) sets.push(sql`target_date = ${patch.targetAt ?? null}`);
        sets.push(sql`version = version + 1`, sql`updated_at = now()`);
        await query(em, sql`update releases set ${sql.join(sets)} where id = ${id}`);
        return { ok: true, release: (await this.getRelease(id, em)) as ReleaseRow } as const;
      });
    } catch (err) {
      if (isUniqueViolation(err, "releases_version_label_live_uniq"))
        return { ok: false, reason: "label_taken" };
      throw err;
    }
  }

  /**
   * Soft-deletes a release. Refused while live tasks reference it unless `force`; then (and always for
   * soft-deleted tasks) Task.release is cleared with events, and milestones of the release are detached.
   */
  async deleteRelease(
    id: string,
    force: boolean,
    expectedVersion: number | null,
    ctx: WriteContext = {},
  ): Promise<ReleaseResult<{ unassigned: number }>> {
    return this.em.transactional(async (em) => {
      const lock = await this.lockRelease(em, id, expectedVersion);
      if (!lock.ok) return lock;
      const count = await query(
        em,
        sql<Row>`select count(*)::int as n from tasks where release_id = ${id} and deleted_at is null`,
      );
      const n = Number(count[0]?.n ?? 0);
      if (n > 0 && !force) return { ok: false, reason: "has_tasks", taskCount: n } as const;
      const cleared = await clearTaskReference(em, "release_id", "release", id, ctx);
      await query(
        em,
        sql`update milestones set release_id = null, version = version + 1, updated_at = now() where release_id = ${id}`,
      );
      await query(
        em,
        sql`update releases set deleted_at = now(), version = version + 1, updated_at = now() where id = ${id}`,
      );
      return { ok: true, unassigned: cleared.length } as const;
    });
  }
}
