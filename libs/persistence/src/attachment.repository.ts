/**
 * Attachment metadata rows. The bytes live in a content-addressed store keyed by sha256 (`storage_key`);
 * a transaction-scoped advisory lock per key serialises "file appears/disappears" with "row
 * inserted/deleted", so a delete never removes content that a concurrent upload is about to reference.
 */
import type { EntityManager } from "@mikro-orm/core";
import { storeIdempotentResource } from "./idempotency.js";
import { newId } from "./ids.js";
import { decodePageToken, encodePageToken, tokenField } from "./page-token.js";
import { insertTaskEvent, type TaskEventContext } from "./task-events.js";

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

const SELECT = `a.id, a.task_id, a.filename, a.storage_key, a.size_bytes, a.file_type, a.mime_type,
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

type Exec = (sql: string, params: unknown[]) => Promise<Record<string, unknown>[]>;

export class AttachmentRepository {
  constructor(private readonly em: EntityManager) {}

  /** True when the task exists and is not soft-deleted. */
  async taskExists(taskId: string): Promise<boolean> {
    const rows = await this.exec(this.em)(`select 1 from tasks where id = ? and deleted_at is null`, [
      taskId,
    ]);
    return rows.length > 0;
  }

  /** The attachment created by an earlier upload with this request id, if any. */
  async findByRequestId(requestId: string): Promise<AttachmentRow | null> {
    const rows = await this.exec(this.em)(
      `select ${SELECT} from idempotency_keys k join task_attachments a on a.id = k.resource_id::uuid
       where k.scope = ? and k.request_id = ?`,
      [UPLOAD_SCOPE, requestId],
    );
    return rows[0] ? rowFromDb(rows[0]) : null;
  }

  /**
   * Inserts the row and an `task.attachment` outbox event in one transaction. `placeContent` runs inside
   * it, under the storage-key lock, to move the content into place. Returns null when the task is gone.
   */
  async create(
    input: CreateAttachmentInput,
    ctx: TaskEventContext,
    placeContent: () => Promise<void>,
  ): Promise<AttachmentRow | null> {
    return this.em.transactional(async (em) => {
      const exec = this.exec(em);
      await exec(`select pg_advisory_xact_lock(hashtextextended(?, 0))`, [input.storageKey]);
      const task = await exec(`select 1 from tasks where id = ? and deleted_at is null for share`, [
        input.taskId,
      ]);
      if (task.length === 0) return null;
      await placeContent();
      const id = newId();
      const rows = await exec(
        `insert into task_attachments as a (id, task_id, filename, storage_key, size_bytes, file_type, mime_type,
           description, uploaded_by, is_public)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning ${SELECT}`,
        [
          id,
          input.taskId,
          input.filename,
          input.storageKey,
          input.sizeBytes,
          input.fileType,
          input.mimeType,
          input.description,
          ctx.actor ?? null,
          input.isPublic,
        ],
      );
      await insertTaskEvent(
        em,
        input.taskId,
        "task.attachment",
        { action: "added", attachmentId: id, filename: input.filename },
        ctx,
      );
      if (ctx.requestId) {
        await storeIdempotentResource(em, UPLOAD_SCOPE, ctx.requestId, id);
      }
      return rowFromDb(rows[0] as Record<string, unknown>);
    });
  }

  /**
   * Runs `remove` under the storage-key lock when no row references `storageKey` (cleanup after a failed
   * upload). Returns whether it ran.
   */
  async removeContentIfUnreferenced(storageKey: string, remove: () => Promise<void>): Promise<boolean> {
    return this.em.transactional(async (em) => {
      const exec = this.exec(em);
      await exec(`select pg_advisory_xact_lock(hashtextextended(?, 0))`, [storageKey]);
      const refs = await exec(`select 1 from task_attachments where storage_key = ? limit 1`, [storageKey]);
      if (refs.length > 0) return false;
      await remove();
      return true;
    });
  }

  async get(taskId: string, id: string): Promise<AttachmentRow | null> {
    const rows = await this.exec(this.em)(
      `select ${SELECT} from task_attachments a join tasks t on t.id = a.task_id
       where a.id = ? and a.task_id = ? and t.deleted_at is null`,
      [id, taskId],
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
    const params: unknown[] = [taskId];
    let where = "a.task_id = ?";
    let direction = desc;
    if (pageToken) {
      const [us, id, descBit] = decodePageToken(pageToken, "a1", taskId, [
        tokenField.micros,
        tokenField.uuid,
        tokenField.bit,
      ]);
      const cursor = { us, id };
      direction = descBit === 1;
      where += ` and (a.created_at, a.id) ${direction ? "<" : ">"} (timestamptz 'epoch' + ?::bigint * interval '1 microsecond', ?::uuid)`;
      params.push(cursor.us, cursor.id);
    }
    const dir = direction ? "desc" : "asc";
    params.push(pageSize + 1);
    const rows = await this.exec(this.em)(
      `select ${SELECT}, (extract(epoch from a.created_at) * 1000000)::bigint::text as cursor_us
       from task_attachments a where ${where} order by a.created_at ${dir}, a.id ${dir} limit ?`,
      params,
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
      const exec = this.exec(em);
      await exec(`select pg_advisory_xact_lock(hashtextextended(?, 0))`, [existing.storageKey]);
      const deleted = await exec(
        `delete from task_attachments a where a.id = ? and a.task_id = ? returning ${SELECT}`,
        [id, taskId],
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

  private exec(em: EntityManager): Exec {
    return (sql, params) => em.getConnection().execute(sql, params, "all", em.getTransactionContext());
  }
}
