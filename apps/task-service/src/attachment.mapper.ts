/** Attachment rows -> `taskmaster.task.v1.Attachment` messages. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { AttachmentRow } from "@taskmaster/persistence/attachment.repository";
import { type Attachment, AttachmentSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/collaboration_pb";
import { taskName } from "./task.names.js";

export function attachmentName(taskId: string, id: string): string {
  return `${taskName(taskId)}/attachments/${id}`;
}

export function attachmentToMessage(row: AttachmentRow): Attachment {
  return create(AttachmentSchema, {
    name: attachmentName(row.taskId, row.id),
    uid: row.id,
    filename: row.filename,
    sizeBytes: BigInt(row.sizeBytes),
    fileType: row.fileType ?? "",
    mimeType: row.mimeType,
    description: row.description ?? "",
    uploader: row.uploadedBy ?? "",
    public: row.isPublic,
    sha256: row.storageKey,
    createTime: timestampFromDate(row.createdAt),
  });
}
