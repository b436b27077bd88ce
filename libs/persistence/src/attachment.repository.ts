/**
 * Attachment metadata rows. The bytes live in a content-addressed store keyed by sha256 (`storage_key`);
 * a transaction-scoped advisory lock per key serialises "file appears/disappears" with "row
 * inserted/deleted", so a delete never removes content that a concurrent upload is about to reference.
 */
import type { EntityManager } from "@mikro-orm/core";
import { createOnce } from "./idempotency.js";
import { newId } from "./ids.js";
import { decodePageToken, encodePageToken, tokenField } from "./page-token.js";
import { query, type Row, sql } from "./sql-toolkit.js";
import { insertTaskEvent, type TaskEventContext } from "./task-events.js";
import { microsSql } from "./workflow.repository.js";

export interface AttachmentRow {
  id: string;
  taskId: string;
  filename: string;
  storageKey: string;
  sizeBytes: number;
  fileType: string | null;
  mimeType: string;
  description: string | null;
  uploadedBy: string | null;
  isPublic: boolean;
  createdAt: Date;
}

export interface CreateAttachmentInput {
  taskId: string;
  filename: string;
  storageKey: string;
  sizeBytes: number;
  fileType: string | null;
  mimeType: string;
  description: string | null;
  isPublic: boolean;
}

export interface AttachmentPage {
  items: AttachmentRow[];
  nextPageToken: string | null;
}

const SELECT_LIST = `a.id, a.task_id, a.filename, a.storage_key, a.size_bytes, a.file_type, a.mime_type,
  a.description, a.uploaded_by, a.is_public, a.created_at`;
const UPLOAD_SCOPE = "attachment.upload";

function rowFromDb(r: Record<string, unknown>): AttachmentRow {
  return {
    id: String(r.id),
    taskId: String(r.task_id),
    filename: String(r.filename),
    storageKey: String(r.storage_key),
    sizeBytes: Number(r.size_bytes),
    fileType: (r.file_type as string | null) ?? null,
    mimeType: String(r.mime_type),
    description: (r.description as string | null) ?? null,
    uploadedBy: (r.uploaded_by as string | null) ?? null,
    isPublic: r.is_public === true,
    createdAt: r.created_at instanceof Date ? r.created_at : new Date(String(r.created_at)),
  };
}

const SELECT = sql.raw(SELECT_LIST);

/** Takes the transaction-scoped advisory lock of a storage key. */
async function lockStorageKey(em: EntityManager, storageKey: string): Promise<void> {
  await query(em, sql`select pg_advisory_xact_lock(hashtextextended(${storageKey}::text, 0))`);
}

export class AttachmentRepository {
  constructor(private readonly em: EntityManager) {}

  /** True when the task exists and is not soft-deleted. */
  async taskExists(taskId: string): Promise<boolean> {
    const rows = await query(this.em, sql`select 1 from tasks where id = ${taskId} and deleted_at is null`);
    return rows.length > 0;
  }

  /** The attachment created by an earlier upload with this request id, if any. */
  async findByRequestId(requestId: string): Promise<AttachmentRow | null> {
    const rows = await query(
      this.em,
      sql<Row>`select ${SELECT} from idempotency_keys k join task_attachments a on a.id = k.resource_id::uuid
       where k.scope = ${UPLOAD_SCOPE} and k.request_id = ${requestId}`,
    );
    return rows[0] ? rowFromDb(rows[0]) : null;
  }

  /**
   * Inserts the row and an `task.attachment` outbox event in one transaction. `placeContent` runs inside
   * it, under the storage-key lock, to move the content into place. Returns null when the task is gone.
   * With a request id a retry, even a concurrent one, returns the first upload's row without running
   * `placeContent`.
   */
  async create(
    input: CreateAttachmentInput,
    ctx: TaskEventContext,
    placeContent: () => Promise<void>,
  ): Promise<AttachmentRow | null> {
    return createOnce<AttachmentRow | null>(this.em, {
      scope: UPLOAD_SCOPE,
      requestId: ctx.requestId,
      replay: async (em, id) => {
        const rows = await query(
          em,
          sql<Row>`select ${SELECT} from task_attachments a where a.id = ${id}::uuid`,
        );
        return rows[0] ? rowFromDb(rows[0]) : null;
      },
      create: async (em) => {
        await lockStorageKey(em, input.storageKey);
        const task = await query(
          em,
          sql`select 1 from tasks where id = ${input.taskId} and deleted_at is null for share`,
        );
        if (task.length === 0) return { result: null, resourceId: null };
        await placeContent();
        const id = newId();
        const rows = await query(
          em,
          sql<Row>`insert into task_attachments as a (id, task_id, filename, storage_key, size_bytes, file_type, mime_type,
             description, uploaded_by, is_public)
           values (${id}, ${input.taskId}, ${input.filename}, ${input.storageKey}, ${input.sizeBytes}, ${input.fileType},
             ${input.mimeType}, ${input.description}, ${ctx.actor ?? null}, ${input.isPublic})
           returning ${SELECT}`,
        );
        await insertTaskEvent(
          em,
          input.taskId,
          "task.attachment",
          { action: "added", attachmentId: id, filename: input.filename },
          ctx,
        );
        return { result: rowFromDb(rows[0] as Record<string, unknown>), resourceId: id };
      },
    });
  }

  /**
   * Runs `remove` under the storage-key lock when no row references `storageKey` (cleanup after a failed
   * upload). Returns whether it ran.
   */
  async removeContentIfUnreferenced(storageKey: string, remove: () => Promise<void>): Promise<boolean> {
    return this.em.transactional(async (em) => {
      await lockStorageKey(em, storageKey);
      const refs = await query(
        em,
        sql`select 1 from task_attachments where storage_key = ${storageKey} limit 1`,
      );
      if (refs.length > 0) return false;
      await remove();
      return true;
    });
  }

  async get(taskId: string, id: string): Promise<AttachmentRow | null> {
    const rows = await query(
      this.em,
      sql<Row>`select ${SELECT} from task_attachments a join tasks t on t.id = a.task_id
       where a.id = ${id} and a.task_id = ${taskId} and t.deleted_at is null`,
    );
    return rows[0] ? rowFromDb(rows[0]) : null;
  }

  /** One page in (created_at, id) order. */
  async list(
    taskId: string,
    pageSize: number,
    pageToken: string | null,
    desc: boolean,
  ): Promise<AttachmentPage> {
    let after = sql``;
    let direction = desc;
    if (pageToken) {
      const [us, id, descBit] = decodePageToken(pageToken, "a1", taskId, [
        tokenField.micros,
        tokenField.uuid,
        tokenField.bit,
      ]);
      direction = descBit === 1;
      after = sql` and (a.created_at, a.id) ${sql.raw(direction ? "<" : ">")} (${microsSql(String(us))}, ${id}::uuid)`;
    }
    const dir = sql.raw(direction ? "desc" : "asc");
    const rows = await query(
      this.em,
      sql<Row>`select ${SELECT}, (extract(epoch from a.created_at) * 1000000)::bigint::text as cursor_us
       from task_attachments a where a.task_id = ${taskId}${after}
       order by a.created_at ${dir}, a.id ${dir} limit ${pageSize + 1}::int`,
    );
    const page = rows.slice(0, pageSize);
    const last = page[page.length - 1];
    const nextPageToken =
      rows.length > pageSize && last
        ? encodePageToken("a1", taskId, [String(last.cursor_us), String(last.id), direction ? 1 : 0])
        : null;
    return { items: page.map(rowFromDb), nextPageToken };
  }

  /**
   * Deletes the row (and records the outbox event). The content stays in the store: a restore of a backup
   * taken before this delete brings the row back, so backup pruning removes the file once no retained backup
   * can (the `attachment_deletions` trigger records when). Returns the deleted row, or null when it did not
   * exist.
   */
  async delete(taskId: string, id: string, ctx: TaskEventContext): Promise<AttachmentRow | null> {
    const existing = await this.get(taskId, id);
    if (existing === null) return null;
    return this.em.transactional(async (em) => {
      await lockStorageKey(em, existing.storageKey);
      const deleted = await query(
        em,
        sql<Row>`delete from task_attachments a where a.id = ${id} and a.task_id = ${taskId} returning ${SELECT}`,
      );
      if (deleted.length === 0) return null;
      await insertTaskEvent(
        em,
        taskId,
        "task.attachment",
        { action: "removed", attachmentId: id, filename: existing.filename },
        ctx,
      );
      return rowFromDb(deleted[0] as Record<string, unknown>);
    });
  }
}
