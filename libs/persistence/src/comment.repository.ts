/**
 * Task comments: threaded through parent_id on the same task, soft-deleted (content hidden, replies stay),
 * optimistic concurrency through `version`. Every write records a `task.comment` outbox event in the same
 * transaction.
 */
import type { EntityManager } from "@mikro-orm/core";
import { conditionsSql, type ListCondition as FilterCondition } from "./filter-sql.js";
import { createOnce } from "./idempotency.js";
import { newId } from "./ids.js";
import { bindingDigest, decodeKeysetToken, keysetPage, tokenField } from "./page-token.js";
import { allOf, insertTaskEvent, loadTask, query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";
import type { TaskEventContext } from "./task-events.js";
import type { CommentType } from "./value-sets.js";
import { microsSql } from "./workflow.repository.js";

export interface CommentRow {
  id: string;
  taskId: string;
  parentId: string | null;
  threadId: string;
  author: string;
  content: string;
  type: CommentType;
  internal: boolean;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
  version: number;
  replyCount: number;
}

/** Thread root via the parent chain (bounded), and the live direct reply count. */
export const COMMENT_SELECT = `c.id, c.task_id, c.parent_id, c.author, c.content, c.type, c.is_internal, c.created_at,
  c.updated_at, c.deleted_at, c.version,
  (extract(epoch from c.created_at) * 1000000)::bigint::text as cursor_us,
  (with recursive up(id, parent_id, depth) as (
     select c.id, c.parent_id, 0
     union all select p.id, p.parent_id, up.depth + 1 from task_comments p join up on p.id = up.parent_id
     where up.depth < 1000)
   select up.id from up where up.parent_id is null limit 1) as thread_id,
  (select count(*) from task_comments r where r.parent_id = c.id and r.deleted_at is null)::int as reply_count`;

const toDate = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

export function commentRow(raw: Record<string, unknown>): CommentRow {
  return {
    id: String(raw.id),
    taskId: String(raw.task_id),
    parentId: raw.parent_id === null || raw.parent_id === undefined ? null : String(raw.parent_id),
    threadId: raw.thread_id === null || raw.thread_id === undefined ? String(raw.id) : String(raw.thread_id),
    author: String(raw.author),
    content: String(raw.content),
    type: raw.type as CommentType,
    internal: raw.is_internal === true,
    createdAt: toDate(raw.created_at),
    updatedAt: toDate(raw.updated_at),
    deletedAt: raw.deleted_at === null || raw.deleted_at === undefined ? null : toDate(raw.deleted_at),
    version: Number(raw.version),
    replyCount: Number(raw.reply_count ?? 0),
  };
}

export interface CreateCommentInput {
  taskId: string;
  parentId: string | null;
  author: string;
  content: string;
  type: CommentType;
  internal: boolean;
}

export type CommentWriteOutcome =
  | { kind: "ok"; comment: CommentRow }
  | { kind: "task_not_found" }
  | { kind: "task_deleted" }
  | { kind: "parent_not_found" }
  | { kind: "not_found" }
  | { kind: "stale" }
  | { kind: "not_author"; author: string };

const CREATE_SCOPE = "comment.create";

/** Filterable comment columns by ListComments filter name. */
const COMMENT_FILTER_COLUMNS = {
  type: "c.type",
  author: "c.author",
  internal: "c.is_internal",
  create_time: "c.created_at",
};

export class CommentRepository {
  constructor(private readonly em: EntityManager) {}

  async get(taskId: string, id: string, opts: { includeDeleted?: boolean } = {}): Promise<CommentRow | null> {
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(COMMENT_SELECT)} from task_comments c where c.task_id = ${taskId} and c.id = ${id}${
        opts.includeDeleted ? sql`` : sql` and c.deleted_at is null`
      }`,
    );
    return rows[0] ? commentRow(rows[0]) : null;
  }

  async create(input: CreateCommentInput, ctx: TaskEventContext): Promise<CommentWriteOutcome> {
    return createOnce<CommentWriteOutcome>(this.em, {
      scope: CREATE_SCOPE,
      requestId: ctx.requestId,
      replay: async (em, id) => {
        const comment = await new CommentRepository(em).get(input.taskId, id, { includeDeleted: true });
        return comment ? { kind: "ok", comment } : null;
      },
      create: async (em) => {
        const task = await loadTask(em, input.taskId);
        if (task === null) return { result: { kind: "task_not_found" }, resourceId: null };
        if (task.deletedAt !== null) return { result: { kind: "task_deleted" }, resourceId: null };
        if (input.parentId !== null) {
          const parent = await query(
            em,
            sql`select 1 from task_comments where id = ${input.parentId} and task_id = ${input.taskId} and deleted_at is null`,
          );
          if (parent.length === 0) return { result: { kind: "parent_not_found" }, resourceId: null };
        }
        const id = newId();
        await query(
          em,
          sql`insert into task_comments (id, task_id, parent_id, author, content, type, is_internal, created_at, updated_at)
           values (${id}, ${input.taskId}, ${input.parentId}, ${input.author}, ${input.content}, ${input.type},
             ${input.internal}, now(), now())`,
        );
        await insertTaskEvent(
          em,
          input.taskId,
          "task.comment",
          { action: "created", commentId: id, parentId: input.parentId, internal: input.internal },
          ctx,
        );
        return { result: { kind: "ok", comment: await this.getIn(em, input.taskId, id) }, resourceId: id };
      },
    });
  }

  /**
   * Updates the given fields (content/type/internal) when the comment is live, the etag (if any) matches and
   * the editor is the author (when `editor` is known and not an admin).
   */
  async update(
    taskId: string,
    id: string,
    changes: { content?: string; type?: CommentType; internal?: boolean },
    opts: { expectedVersion: number | null; editor: string | null; admin: boolean },
    ctx: TaskEventContext,
  ): Promise<CommentWriteOutcome> {
    return this.em.transactional(async (em) => {
      const current = await this.getLive(em, taskId, id);
      if (current === null) return { kind: "not_found" as const };
      if (opts.expectedVersion !== null && opts.expectedVersion !== current.version)
        return { kind: "stale" as const };
      if (opts.editor !== null && !opts.admin && opts.editor !== current.author) {
        return { kind: "not_author" as const, author: current.author };
      }
      const sets: RawBuilder<unknown>[] = [];
      if (changes.content !== undefined) sets.push(sql`content = ${changes.content}`);
      if (changes.type !== undefined) sets.push(sql`type = ${changes.type}`);
      if (changes.internal !== undefined) sets.push(sql`is_internal = ${changes.internal}`);
      sets.push(sql`version = version + 1`, sql`updated_at = clock_timestamp()`);
      const updated = await query(
        em,
        sql`update task_comments set ${sql.join(sets)}
         where id = ${id} and task_id = ${taskId} and version = ${current.version} and deleted_at is null returning id`,
      );
      if (updated.length === 0) return { kind: "stale" as const };
      await insertTaskEvent(
        em,
        taskId,
        "task.comment",
        { action: "updated", commentId: id, fields: Object.keys(changes) },
        ctx,
      );
      return { kind: "ok" as const, comment: await this.getIn(em, taskId, id) };
    });
  }

  /** Soft-deletes a live comment (etag-checked); replies stay. */
  async softDelete(
    taskId: string,
    id: string,
    opts: { expectedVersion: number | null; editor: string | null; admin: boolean },
    ctx: TaskEventContext,
  ): Promise<CommentWriteOutcome> {
    return this.em.transactional(async (em) => {
      const current = await this.getLive(em, taskId, id);
      if (current === null) return { kind: "not_found" as const };
      if (opts.expectedVersion !== null && opts.expectedVersion !== current.version)
        return { kind: "stale" as const };
      if (opts.editor !== null && !opts.admin && opts.editor !== current.author) {
        return { kind: "not_author" as const, author: current.author };
      }
      const updated = await query(
        em,
        sql`update task_comments set deleted_at = clock_timestamp(), version = version + 1
         where id = ${id} and task_id = ${taskId} and version = ${current.version} and deleted_at is null returning id`,
      );
      if (updated.length === 0) return { kind: "stale" as const };
      await insertTaskEvent(em, taskId, "task.comment", { action: "deleted", commentId: id }, ctx);
      return { kind: "ok" as const, comment: await this.getIn(em, taskId, id) };
    });
  }

  private async getLive(em: EntityManager, taskId: string, id: string): Promise<CommentRow | null> {
    const rows = await query(
      em,
      sql<Row>`select ${sql.raw(COMMENT_SELECT)} from task_comments c
        where c.task_id = ${taskId} and c.id = ${id} and c.deleted_at is null`,
    );
    return rows[0] ? commentRow(rows[0]) : null;
  }

  private async getIn(em: EntityManager, taskId: string, id: string): Promise<CommentRow> {
    const rows = await query(
      em,
      sql<Row>`select ${sql.raw(COMMENT_SELECT)} from task_comments c where c.task_id = ${taskId} and c.id = ${id}`,
    );
    if (!rows[0]) throw new Error("comment row vanished");
    return commentRow(rows[0]);
  }

  /** Whether the task exists (soft-deleted included) and, when `threadId` is set, that comment is on it. */
  async threadExistsOrTask(taskId: string, threadId: string | null): Promise<boolean> {
    const rows = await query(
      this.em,
      threadId === null
        ? sql`select 1 from tasks where id = ${taskId}`
        : sql`select 1 from task_comments where task_id = ${taskId} and id = ${threadId}`,
    );
    return rows.length > 0;
  }

  /** One page of a task's comments (optionally one thread) by (created_at, id). */
  async list(opts: {
    taskId: string;
    threadId: string | null;
    pageSize: number;
    pageToken: string | null;
    descending: boolean;
    includeDeleted: boolean;
    conditions: readonly FilterCondition[];
    binding: string;
  }): Promise<{ items: CommentRow[]; nextPageToken: string | null }> {
    const where: RawBuilder<unknown>[] = [sql`c.task_id = ${opts.taskId}`];
    let prefix = sql``;
    if (opts.threadId !== null) {
      prefix = sql`with recursive thread(id, depth) as (
          select id, 0 from task_comments where id = ${opts.threadId} and task_id = ${opts.taskId}
          union all select r.id, thread.depth + 1 from task_comments r join thread on r.parent_id = thread.id
          where thread.depth < 1000)`;
      where.push(sql`c.id in (select id from thread)`);
    }
    if (!opts.includeDeleted) where.push(sql`c.deleted_at is null`);
    where.push(...conditionsSql(opts.conditions, COMMENT_FILTER_COLUMNS));
    if (opts.pageToken !== null) {
      const pos = decodeKeysetToken(opts.pageToken, "k1", bindingDigest(opts.binding), tokenField.micros);
      where.push(
        sql`(c.created_at, c.id) ${sql.raw(opts.descending ? "<" : ">")} (${microsSql(pos.key)}, ${pos.id}::uuid)`,
      );
    }
    const dir = sql.raw(opts.descending ? "desc" : "asc");
    const rows = await query(
      this.em,
      sql<Row>`${prefix} select ${sql.raw(COMMENT_SELECT)} from task_comments c where ${allOf(where)}
       order by c.created_at ${dir}, c.id ${dir} limit ${opts.pageSize + 1}::int`,
    );
    return keysetPage(rows, opts.pageSize, commentRow, {
      tag: "k1",
      binding: bindingDigest(opts.binding),
      keyColumn: "cursor_us",
    });
  }
}
