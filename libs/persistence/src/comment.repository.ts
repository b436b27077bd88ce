/**
 * Task comments: threaded through parent_id on the same task, soft-deleted (content hidden, replies stay),
 * optimistic concurrency through `version`. Every write records a `task.comment` outbox event in the same
 * transaction.
 */
import type { EntityManager } from "@mikro-orm/core";
import { type ListCondition as FilterCondition, renderConditions } from "./filter-sql.js";
import { createOnce } from "./idempotency.js";
import { newId } from "./ids.js";
import { bindingDigest, decodeKeysetToken, keysetPage, tokenField } from "./page-token.js";
import { execute, insertTaskEvent, loadTask } from "./sql-toolkit.js";
import type { TaskEventContext } from "./task-events.js";
import type { CommentType } from "./value-sets.js";

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

export class CommentRepository {
  constructor(private readonly em: EntityManager) {}

  async get(taskId: string, id: string, opts: { includeDeleted?: boolean } = {}): Promise<CommentRow | null> {
    const rows = await execute(
      this.em,
      `select ${COMMENT_SELECT} from task_comments c where c.task_id = ? and c.id = ?${
        opts.includeDeleted ? "" : " and c.deleted_at is null"
      }`,
      [taskId, id],
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
          const parent = await execute(
            em,
            "select 1 from task_comments where id = ? and task_id = ? and deleted_at is null",
            [input.parentId, input.taskId],
          );
          if (parent.length === 0) return { result: { kind: "parent_not_found" }, resourceId: null };
        }
        const id = newId();
        await execute(
          em,
          `insert into task_comments (id, task_id, parent_id, author, content, type, is_internal, created_at, updated_at)
           values (?, ?, ?, ?, ?, ?, ?, now(), now())`,
          [id, input.taskId, input.parentId, input.author, input.content, input.type, input.internal],
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
      const sets: string[] = [];
      const params: unknown[] = [];
      if (changes.content !== undefined) {
        sets.push("content = ?");
        params.push(changes.content);
      }
      if (changes.type !== undefined) {
        sets.push("type = ?");
        params.push(changes.type);
      }
      if (changes.internal !== undefined) {
        sets.push("is_internal = ?");
        params.push(changes.internal);
      }
      const updated = await execute(
        em,
        `update task_comments set ${[...sets, "version = version + 1", "updated_at = clock_timestamp()"].join(", ")}
         where id = ? and task_id = ? and version = ? and deleted_at is null returning id`,
        [...params, id, taskId, current.version],
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
      const updated = await execute(
        em,
        `update task_comments set deleted_at = clock_timestamp(), version = version + 1
         where id = ? and task_id = ? and version = ? and deleted_at is null returning id`,
        [id, taskId, current.version],
      );
      if (updated.length === 0) return { kind: "stale" as const };
      await insertTaskEvent(em, taskId, "task.comment", { action: "deleted", commentId: id }, ctx);
      return { kind: "ok" as const, comment: await this.getIn(em, taskId, id) };
    });
  }

  private async getLive(em: EntityManager, taskId: string, id: string): Promise<CommentRow | null> {
    const rows = await execute(
      em,
      `select ${COMMENT_SELECT} from task_comments c where c.task_id = ? and c.id = ? and c.deleted_at is null`,
      [taskId, id],
    );
    return rows[0] ? commentRow(rows[0]) : null;
  }

  private async getIn(em: EntityManager, taskId: string, id: string): Promise<CommentRow> {
    const rows = await execute(
      em,
      `select ${COMMENT_SELECT} from task_comments c where c.task_id = ? and c.id = ?`,
      [taskId, id],
    );
    if (!rows[0]) throw new Error("comment row vanished");
    return commentRow(rows[0]);
  }

  /** Whether the task exists (soft-deleted included) and, when `threadId` is set, that comment is on it. */
  async threadExistsOrTask(taskId: string, threadId: string | null): Promise<boolean> {
    const rows =
      threadId === null
        ? await execute(this.em, "select 1 from tasks where id = ?", [taskId])
        : await execute(this.em, "select 1 from task_comments where task_id = ? and id = ?", [
            taskId,
            threadId,
          ]);
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
    const where: string[] = ["c.task_id = ?"];
    const params: unknown[] = [opts.taskId];
    let prefix = "";
    if (opts.threadId !== null) {
      prefix = `with recursive thread(id, depth) as (
          select id, 0 from task_comments where id = ? and task_id = ?
          union all select r.id, thread.depth + 1 from task_comments r join thread on r.parent_id = thread.id
          where thread.depth < 1000)`;
      params.unshift(opts.threadId, opts.taskId);
      where.push("c.id in (select id from thread)");
    }
    if (!opts.includeDeleted) where.push("c.deleted_at is null");
    renderConditions(
      opts.conditions,
      { type: "c.type", author: "c.author", internal: "c.is_internal", create_time: "c.created_at" },
      where,
      params,
    );
    if (opts.pageToken !== null) {
      const pos = decodeKeysetToken(opts.pageToken, "k1", bindingDigest(opts.binding), tokenField.micros);
      where.push(
        `(c.created_at, c.id) ${opts.descending ? "<" : ">"} (timestamptz 'epoch' + ?::bigint * interval '1 microsecond', ?::uuid)`,
      );
      params.push(pos.key, pos.id);
    }
    const dir = opts.descending ? "desc" : "asc";
    params.push(opts.pageSize + 1);
    const rows = await execute(
      this.em,
      `${prefix} select ${COMMENT_SELECT} from task_comments c where ${where.join(" and ")}
       order by c.created_at ${dir}, c.id ${dir} limit ?`,
      params,
    );
    return keysetPage(rows, opts.pageSize, commentRow, {
      tag: "k1",
      binding: bindingDigest(opts.binding),
      keyColumn: "cursor_us",
    });
  }
}
