import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { createdAtProperty, idProperty } from "./common.js";
import { Task } from "./task.entity.js";

/** File attached to a task; the bytes live content-addressed (sha256 hex) outside the database. */
export const TaskAttachment = defineEntity({
  name: "TaskAttachment",
  tableName: "task_attachments",
  properties: {
    id: idProperty(),
    task: () => p.manyToOne(Task).ref().deleteRule("cascade"),
    filename: p.string().length(255),
    /** sha256 of the content, lower-case hex; also the storage key. */
    storageKey: p.string().length(64),
    sizeBytes: p.bigint("number"),
    /** Upstream "file type": a short kind derived from the extension (e.g. `pdf`, `png`). */
    fileType: p.string().length(50).nullable(),
    mimeType: p.string().length(255),
    description: p.text().nullable(),
    uploadedBy: p.string().length(255).nullable(),
    isPublic: p.boolean().default(false),
    createdAt: createdAtProperty(),
  },
  checks: [
    { name: "task_attachments_filename_check", expression: "char_length(btrim(filename)) >= 1" },
    { name: "task_attachments_storage_key_check", expression: "storage_key ~ '^[0-9a-f]{64}$'" },
    { name: "task_attachments_size_check", expression: "size_bytes >= 0" },
    {
      name: "task_attachments_mime_type_check",
      expression: "mime_type ~ '^[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]*/[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]*$'",
    },
  ],
  indexes: [
    { name: "task_attachments_task_idx", properties: ["task"] },
    { name: "task_attachments_storage_key_idx", properties: ["storageKey"] },
  ],
});

export type ITaskAttachment = InferEntity<typeof TaskAttachment>;
