/**
 * Agent work queue over the `tasks` claim columns (claimed_by, claimed_at, lease_expires_at).
 * Candidates: not deleted, status in the candidate set, unclaimed or lease expired, and every blocker /
 * dependency (blocked_by/depends_on edges from the task, blocks/dependency_of edges to it) done.
 * Order: priority (critical first), business value (high first, unset last), age (oldest first), id.
 * Claiming uses `FOR UPDATE SKIP LOCKED`, so concurrent claimers never get the same task.
 * The claim id is derived (md5 of task id, claimant and claim time as a UUID): no extra column needed,
 * and a new claim of the same task always has a different id.
 */
import type { EntityManager } from "@mikro-orm/core";
import { allOf, query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import { CLAIM_ID_SQL, TASK_SELECT_LIST, type TaskRow, taskRowFromDb } from "./task.repository.js";
import { insertTaskEvent, type TaskEventContext } from "./task-events.js";
import type { TaskStatus, TaskType } from "./value-sets.js";

export interface WorkSelectorInput {
  /** Subject, "-" for unassigned, null for any. */
  assignedTo: string | null;
  sprintId: string | null;
  tags: string[];
  labels: string[];
  types: TaskType[];
  /** A condition over the `tasks t` alias. */
  filter: RawBuilder<unknown> | null;
  /** Candidate statuses (default ready, pending). */
  statuses: TaskStatus[];
  /** Statuses that count as done for blockers. */
  done: TaskStatus[];
}

export interface ClaimedTask {
  task: TaskRow;
  claimId: string;
}

/** The claim on a task no longer matches (expired, released, re-claimed or never held). */
export class ClaimNotHeldError extends Error {
  constructor(readonly reason: "CLAIM_NOT_HELD" | "CLAIM_EXPIRED") {
    super(reason === "CLAIM_EXPIRED" ? "the claim has expired" : "the claim is not held");
    this.name = "ClaimNotHeldError";
  }
}

export class ClaimTaskNotFoundError extends Error {
  constructor() {
    super("task not found");
    this.name = "ClaimTaskNotFoundError";
  }
}

const PRIORITY_RANK = `case t.priority when 'critical' then 0 when 'high' then 1 when 'medium' then 2 when 'low' then 3 else 4 end`;
const ORDER = `${PRIORITY_RANK}, t.business_value desc nulls last, t.created_at, t.id`;

const CLAIM_ID = sql.raw(CLAIM_ID_SQL);

/** `column = any(values)` over a text column, `values` bound as one text[] parameter. */
const isAnyOf = (column: string, values: readonly string[]): RawBuilder<unknown> =>
  sql`${sql.raw(column)} = any(${values}::text[])`;

function candidateWhere(sel: WorkSelectorInput): RawBuilder<unknown> {
  const where = [
    sql`t.deleted_at is null`,
    isAnyOf("t.status", sel.statuses),
    sql`(t.claimed_by is null or t.lease_expires_at <= now())`,
    sql`not exists (select 1 from task_relationships r join tasks b on b.id = r.target_task_id
       where r.source_task_id = t.id and r.type in ('blocked_by', 'depends_on')
         and b.deleted_at is null and not (${isAnyOf("b.status", sel.done)}))`,
    sql`not exists (select 1 from task_relationships r join tasks b on b.id = r.source_task_id
       where r.target_task_id = t.id and r.type in ('blocks', 'dependency_of')
         and b.deleted_at is null and not (${isAnyOf("b.status", sel.done)}))`,
  ];
  if (sel.assignedTo === "-") where.push(sql`t.assigned_to is null`);
  else if (sel.assignedTo !== null) where.push(sql`t.assigned_to = ${sel.assignedTo}::text`);
  if (sel.sprintId !== null) where.push(sql`t.sprint_id = ${sel.sprintId}::uuid`);
  if (sel.tags.length > 0) where.push(sql`t.tags @> ${sel.tags}::text[]`);
  if (sel.labels.length > 0) where.push(sql`t.labels @> ${sel.labels}::text[]`);
  if (sel.types.length > 0) where.push(isAnyOf("t.type", sel.types));
  if (sel.filter !== null) where.push(sql`(${sel.filter})`);
  return allOf(where);
}

/**
 * The claim statement: lock the best free candidate with SKIP LOCKED and lease it in one UPDATE. Exported
 * so the benchmark floor runs exactly the same SQL.
 */
export function buildClaimQuery(
  sel: WorkSelectorInput,
  claimant: string,
  leaseSeconds: number,
  start: boolean,
): RawBuilder<Row> {
  return sql<Row>`with c as (select t.id, t.status as old_status from tasks t where ${candidateWhere(sel)} order by ${sql.raw(ORDER)} limit 1 for update skip locked)
     update tasks t set claimed_by = ${claimant}, claimed_at = clock_timestamp(),
       lease_expires_at = clock_timestamp() + ${leaseSeconds}::float8 * interval '1 second',
       status = case when ${start}::boolean then 'in_progress' else t.status end,
       started_at = case when ${start}::boolean then coalesce(t.started_at, now()) else t.started_at end,
       version = t.version + 1, updated_at = now()
     from c where t.id = c.id
     returning ${sql.raw(TASK_SELECT_LIST)}, c.old_status, ${CLAIM_ID} as claim_id`;
}

export class WorkQueueRepository {
  constructor(private readonly em: EntityManager) {}

  /** The best candidate (not claimed) and the number of candidates. */
  async next(sel: WorkSelectorInput): Promise<{ task: TaskRow | null; candidates: number }> {
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(TASK_SELECT_LIST)}, count(*) over () as candidate_count
       from tasks t where ${candidateWhere(sel)} order by ${sql.raw(ORDER)} limit 1`,
    );
    const first = rows[0];
    return first
      ? { task: taskRowFromDb(first), candidates: Number(first.candidate_count) }
      : { task: null, candidates: 0 };
  }

  /**
   * Claims the best candidate for `claimant` with a lease of `leaseSeconds`; with `start`, also moves it to
   * IN_PROGRESS (status history + events) in the same transaction. Null when no candidate is free.
   */
  async claim(
    sel: WorkSelectorInput,
    claimant: string,
    leaseSeconds: number,
    start: boolean,
    ctx: TaskEventContext,
  ): Promise<ClaimedTask | null> {
    // SKIP LOCKED + LIMIT 1 can come back empty when the row it locked was claimed meanwhile (the
    // re-check drops it); retry while candidates remain.
    for (let attempt = 0; attempt < 10; attempt++) {
      const result = await this.em.transactional(async (em) => {
        const rows = await query(em, buildClaimQuery(sel, claimant, leaseSeconds, start));
        const raw = rows[0];
        if (raw === undefined) return null;
        const task = taskRowFromDb(raw);
        const claimId = String(raw.claim_id);
        const oldStatus = String(raw.old_status);
        await insertTaskEvent(em, task.id, "task.claim", { action: "claimed", claimId, claimant }, ctx);
        if (oldStatus !== task.status) {
          await query(
            em,
            sql<Row>`insert into task_status_history (id, task_id, from_status, to_status, changed_by, reason)
             values (gen_random_uuid(), ${task.id}, ${oldStatus}, ${task.status}, ${ctx.actor ?? claimant}, 'claimed')`,
          );
          await insertTaskEvent(
            em,
            task.id,
            "task.status_changed",
            { from: oldStatus, to: task.status },
            ctx,
          );
        }
        return { task, claimId };
      });
      if (result !== null) return result;
      if ((await this.next(sel)).candidates === 0) return null;
    }
    return null;
  }

  /** Extends a live claim held by `claimant` with id `claimId`. */
  async renew(
    taskId: string,
    claimId: string,
    claimant: string,
    leaseSeconds: number,
    ctx: TaskEventContext,
  ): Promise<ClaimedTask> {
    return this.em.transactional(async (em) => {
      const rows = await query(
        em,
        sql<Row>`update tasks t set lease_expires_at = clock_timestamp() + ${leaseSeconds}::float8 * interval '1 second',
           version = t.version + 1, updated_at = now()
         where t.id = ${taskId} and t.deleted_at is null and t.claimed_by = ${claimant}
           and ${CLAIM_ID} = ${claimId}::text and t.lease_expires_at > now()
         returning ${sql.raw(TASK_SELECT_LIST)}, ${CLAIM_ID} as claim_id`,
      );
      const raw = rows[0];
      if (raw === undefined) throw await this.whyNotHeld(em, taskId, claimId, claimant);
      await insertTaskEvent(em, taskId, "task.claim", { action: "renewed", claimId }, ctx);
      return { task: taskRowFromDb(raw), claimId: String(raw.claim_id) };
    });
  }

  /**
   * Releases a claim (even an expired one, as long as nobody re-claimed the task), optionally moving the
   * task to `newStatus` (the caller has checked the transition). Returns the task after release.
   */
  async release(
    taskId: string,
    claimId: string,
    claimant: string,
    newStatus: TaskStatus | null,
    reason: string | null,
    ctx: TaskEventContext,
    isAllowed: (from: TaskStatus, to: TaskStatus) => boolean,
  ): Promise<TaskRow> {
    return this.em.transactional(async (em) => {
      const locked = await query(
        em,
        sql<Row>`select t.status from tasks t
         where t.id = ${taskId} and t.deleted_at is null and t.claimed_by = ${claimant} and ${CLAIM_ID} = ${claimId}::text
         for update`,
      );
      const current = locked[0];
      if (current === undefined) throw await this.whyNotHeld(em, taskId, claimId, claimant);
      const oldStatus = String(current.status) as TaskStatus;
      const target = newStatus ?? oldStatus;
      if (target !== oldStatus && !isAllowed(oldStatus, target))
        throw new IllegalReleaseTransitionError(oldStatus, target);
      const rows = await query(
        em,
        sql<Row>`update tasks t set claimed_by = null, claimed_at = null, lease_expires_at = null, status = ${target},
           started_at = case when ${target}::text = 'in_progress' then coalesce(t.started_at, now()) else t.started_at end,
           completed_at = case when ${target}::text = 'completed' then now() when ${target}::text <> t.status then null
             else t.completed_at end,
           version = t.version + 1, updated_at = now()
         where t.id = ${taskId} returning ${sql.raw(TASK_SELECT_LIST)}`,
      );
      await insertTaskEvent(em, taskId, "task.claim", { action: "released", claimId }, ctx);
      if (target !== oldStatus) {
        await query(
          em,
          sql<Row>`insert into task_status_history (id, task_id, from_status, to_status, changed_by, reason)
           values (gen_random_uuid(), ${taskId}, ${oldStatus}, ${target}, ${ctx.actor ?? claimant}, ${reason ?? "claim released"})`,
        );
        await insertTaskEvent(em, taskId, "task.status_changed", { from: oldStatus, to: target }, ctx);
      }
      return taskRowFromDb(rows[0] as Record<string, unknown>);
    });
  }

  /**
   * Returns expired claims to the pool: clears the claim and moves IN_PROGRESS back to READY, with status
   * history and events ("system" actor). Skips rows other transactions hold. Returns how many expired.
   */
  async expireLeases(): Promise<number> {
    return this.em.transactional(async (em) => {
      const rows = await query(
        em,
        sql<Row>`with e as (select t.id, t.status from tasks t
                    where t.claimed_by is not null and t.lease_expires_at <= now() for update skip locked)
         update tasks t set claimed_by = null, claimed_at = null, lease_expires_at = null,
           status = case when e.status = 'in_progress' then 'ready' else e.status end,
           version = t.version + 1, updated_at = now()
         from e where t.id = e.id returning t.id, e.status as old_status, t.status as new_status`,
      );
      for (const r of rows) {
        const ctx = { actor: "system" };
        await insertTaskEvent(em, String(r.id), "task.claim", { action: "expired" }, ctx);
        if (r.old_status !== r.new_status) {
          await query(
            em,
            sql<Row>`insert into task_status_history (id, task_id, from_status, to_status, changed_by, reason)
             values (gen_random_uuid(), ${r.id}, ${r.old_status}, ${r.new_status}, 'system', 'lease expired')`,
          );
          await insertTaskEvent(
            em,
            String(r.id),
            "task.status_changed",
            { from: r.old_status, to: r.new_status },
            ctx,
          );
        }
      }
      return rows.length;
    });
  }

  private async whyNotHeld(
    em: EntityManager,
    taskId: string,
    claimId: string,
    claimant: string,
  ): Promise<Error> {
    const rows = await query(
      em,
      sql<Row>`select t.claimed_by, ${CLAIM_ID} as claim_id, t.lease_expires_at <= now() as expired
       from tasks t where t.id = ${taskId} and t.deleted_at is null`,
    );
    const r = rows[0];
    if (r === undefined) return new ClaimTaskNotFoundError();
    if (r.claimed_by === claimant && r.claim_id === claimId && r.expired === true)
      return new ClaimNotHeldError("CLAIM_EXPIRED");
    return new ClaimNotHeldError("CLAIM_NOT_HELD");
  }
}

export class IllegalReleaseTransitionError extends Error {
  constructor(
    readonly from: TaskStatus,
    readonly to: TaskStatus,
  ) {
    super(`cannot move from ${from} to ${to}`);
    this.name = "IllegalReleaseTransitionError";
  }
}
