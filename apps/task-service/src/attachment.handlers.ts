/**
 * TaskService attachments: client-streaming upload into the content-addressed store, server-streaming
 * download, get, list and delete. An upload that fails, is cancelled or exceeds the size limit leaves no
 * row and no file: bytes go to a temp file that is only renamed to its hash inside the committing
 * transaction, and removed again (unless referenced) if that transaction fails. A deleted attachment's file
 * stays until backup pruning finds no retained backup that can restore its row (`db prune-backups`).
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { AttachmentRepository } from "@taskmaster/persistence/attachment.repository";
import {
  DeleteAttachmentResponseSchema,
  type DownloadAttachmentResponse,
  DownloadAttachmentResponseSchema,
  GetAttachmentResponseSchema,
  ListAttachmentsResponseSchema,
  type TaskService,
  type UploadAttachmentRequest,
  UploadAttachmentResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { changeContext } from "@taskmaster/rpc-kit/call-context";
import { InvalidArgumentError, NotFoundError, ResourceExhaustedError } from "@taskmaster/rpc-kit/errors";
import { attachmentToMessage } from "./attachment.mapper.js";
import {
  checkContentType,
  MAX_CHUNK_BYTES,
  SizeLimitExceeded,
  validateAttachmentName,
  validateDownload,
  validateListAttachments,
  validateUploadMetadata,
} from "./attachment.validation.js";
import { AttachmentStore, type PendingUpload } from "./attachment-store.js";
import { taskName } from "./task.names.js";

export interface AttachmentHandlerDeps {
  readonly orm: MikroORM;
  /** Directory of the content-addressed store; default {@link DEFAULT_ATTACHMENT_DIR}. */
  readonly attachmentDir?: string | undefined;
  /** Largest accepted attachment in bytes; default {@link DEFAULT_ATTACHMENT_MAX_BYTES}. */
  readonly attachmentMaxBytes?: number | undefined;
}

export const DEFAULT_ATTACHMENT_DIR = ".data/attachments";
export const DEFAULT_ATTACHMENT_MAX_BYTES = 25 * 1024 * 1024;

function tooLarge(maxBytes: number): ResourceExhaustedError {
  return new ResourceExhaustedError(
    undefined,
    `attachment exceeds the size limit of ${maxBytes} bytes`,
    "SIZE_LIMIT_EXCEEDED",
  );
}

export function createAttachmentHandlers(
  deps: AttachmentHandlerDeps,
): Pick<
  ServiceImpl<typeof TaskService>,
  "uploadAttachment" | "downloadAttachment" | "getAttachment" | "listAttachments" | "deleteAttachment"
> {
  const store = new AttachmentStore(deps.attachmentDir ?? DEFAULT_ATTACHMENT_DIR);
  const maxBytes = deps.attachmentMaxBytes ?? DEFAULT_ATTACHMENT_MAX_BYTES;
  const repository = () => new AttachmentRepository(deps.orm.em.fork());

  async function receive(
    requests: AsyncIterator<UploadAttachmentRequest>,
    upload: PendingUpload,
    signal: AbortSignal,
  ): Promise<void> {
    for (;;) {
      const next = await requests.next();
      if (signal.aborted) break;
      if (next.done === true) break;
      const payload = next.value.payload;
      if (payload.case !== "chunk") {
        throw new InvalidArgumentError([
          {
            field: "chunk",
            description: "every message after the first must carry a chunk",
            reason: "REQUIRED",
          },
        ]);
      }
      const chunk = payload.value;
      if (chunk.length === 0 || chunk.length > MAX_CHUNK_BYTES) {
        throw new InvalidArgumentError([
          {
            field: "chunk",
            description: `must be 1 to ${MAX_CHUNK_BYTES} bytes (got ${chunk.length})`,
            reason: "OUT_OF_RANGE",
          },
        ]);
      }
      if (upload.bytesWritten + chunk.length > maxBytes) throw tooLarge(maxBytes);
      await upload.write(chunk);
    }
    // grpc-js ends the request stream on cancel: never store what may be a truncated upload.
    if (signal.aborted) {
      throw signal.reason instanceof ConnectError
        ? signal.reason
        : new ConnectError("upload cancelled", Code.Canceled);
    }
  }

  return {
    async uploadAttachment(requests, ctx) {
      const signal = ctx.signal;
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      const meta =
        first.done === true || first.value.payload.case !== "metadata"
          ? undefined
          : first.value.payload.value;
      let input: ReturnType<typeof validateUploadMetadata>;
      try {
        input = validateUploadMetadata(meta, maxBytes);
      } catch (error) {
        if (error instanceof SizeLimitExceeded) throw tooLarge(error.maxBytes);
        throw error;
      }
      const repo = repository();
      if (input.requestId !== null) {
        const existing = await repo.findByRequestId(input.requestId);
        if (existing !== null)
          return create(UploadAttachmentResponseSchema, { attachment: attachmentToMessage(existing) });
      }
      if (!(await repo.taskExists(input.taskId))) throw new NotFoundError("task", taskName(input.taskId));

      const upload = await store.begin();
      let placedNew = false;
      let sha256: string | undefined;
      try {
        await receive(iterator, upload, signal);
        const done = await upload.finish();
        sha256 = done.sha256;
        if (input.declaredSize !== undefined && BigInt(done.sizeBytes) !== input.declaredSize) {
          throw new InvalidArgumentError([
            {
              field: "metadata.size_bytes",
              description: `declared ${input.declaredSize} bytes but received ${done.sizeBytes}`,
              reason: "SIZE_MISMATCH",
            },
          ]);
        }
        if (done.sizeBytes === 0) {
          throw new InvalidArgumentError([
            { field: "chunk", description: "the attachment is empty", reason: "REQUIRED" },
          ]);
        }
        if (input.sha256 !== null && input.sha256 !== done.sha256) {
          throw new InvalidArgumentError([
            {
              field: "metadata.sha256",
              description: "does not match the received content",
              reason: "CHECKSUM_MISMATCH",
            },
          ]);
        }
        checkContentType(input.mimeType, done.head);
        const row = await repo.create(
          {
            taskId: input.taskId,
            filename: input.filename,
            storageKey: done.sha256,
            sizeBytes: done.sizeBytes,
            fileType: input.fileType,
            mimeType: input.mimeType,
            description: input.description,
            isPublic: input.isPublic,
          },
          changeContext(ctx, input.requestId ?? ""),
          async () => {
            if (signal.aborted) throw new ConnectError("upload cancelled", Code.Canceled);
            placedNew = await store.place(upload, done.sha256);
          },
        );
        if (row === null) throw new NotFoundError("task", taskName(input.taskId));
        // A retry that replayed a concurrent first upload placed nothing: drop its temp file.
        await upload.discard();
        return create(UploadAttachmentResponseSchema, { attachment: attachmentToMessage(row) });
      } catch (error) {
        await upload.discard();
        if (placedNew && sha256 !== undefined) {
          const hash = sha256;
          await repository().removeContentIfUnreferenced(hash, () => store.remove(hash));
        }
        throw error;
      }
    },

    async *downloadAttachment(req, ctx): AsyncGenerator<DownloadAttachmentResponse> {
      const { taskId, attachmentId, chunkSize } = validateDownload(req.name, req.chunkSize);
      const row = await repository().get(taskId, attachmentId);
      if (row === null) throw new NotFoundError("attachment", req.name);
      const stream = store.read(row.storageKey, chunkSize);
      try {
        yield create(DownloadAttachmentResponseSchema, {
          payload: { case: "attachment", value: attachmentToMessage(row) },
        });
        for await (const chunk of stream) {
          if (ctx.signal.aborted) return;
          yield create(DownloadAttachmentResponseSchema, {
            payload: { case: "chunk", value: chunk as Buffer },
          });
        }
      } finally {
        stream.destroy();
      }
    },

    async getAttachment(req) {
      const { taskId, attachmentId } = validateAttachmentName(req.name);
      const row = await repository().get(taskId, attachmentId);
      if (row === null) throw new NotFoundError("attachment", req.name);
      return create(GetAttachmentResponseSchema, { attachment: attachmentToMessage(row) });
    },

    async listAttachments(req) {
      const { taskId, pageSize, desc } = validateListAttachments(req);
      const repo = repository();
      if (!(await repo.taskExists(taskId))) throw new NotFoundError("task", req.parent);
      const page = await repo.list(taskId, pageSize, req.pageToken === "" ? null : req.pageToken, desc);
      return create(ListAttachmentsResponseSchema, {
        attachments: page.items.map(attachmentToMessage),
        nextPageToken: page.nextPageToken ?? "",
      });
    },

    async deleteAttachment(req, ctx) {
      const { taskId, attachmentId } = validateAttachmentName(req.name);
      // The file stays: backup pruning removes it once no retained backup can restore the row.
      const row = await repository().delete(taskId, attachmentId, changeContext(ctx));
      if (row === null) throw new NotFoundError("attachment", req.name);
      return create(DeleteAttachmentResponseSchema, {});
    },
  };
}
