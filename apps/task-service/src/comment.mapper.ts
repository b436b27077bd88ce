/** Comment rows -> `taskmaster.task.v1.Comment` messages. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { CommentRow } from "@taskmaster/persistence/comment.repository";
import type { CommentType as DbCommentType } from "@taskmaster/persistence/value-sets";
import {
  type Comment,
  CommentSchema,
  type CommentType,
  CommentTypeSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/collaboration_pb";
import { enumCodec } from "@taskmaster/rpc-kit/enum-codec";
import { taskName } from "./task.names.js";

export const commentTypeCodec = enumCodec<CommentType, DbCommentType>(CommentTypeSchema);

export const COMMENT_PATTERN = "tasks/{task}/comments/{comment}";

export function commentName(taskId: string, id: string): string {
  return `${taskName(taskId)}/comments/${id}`;
}

export function commentEtag(row: Pick<CommentRow, "version">): string {
  return `W/"${row.version}"`;
}

export function commentToMessage(row: CommentRow): Comment {
  return create(CommentSchema, {
    name: commentName(row.taskId, row.id),
    uid: row.id,
    parentComment: row.parentId === null ? "" : commentName(row.taskId, row.parentId),
    thread: commentName(row.taskId, row.threadId),
    type: commentTypeCodec.fromDb(row.type),
    // Soft-deleted comments keep their row (replies stay) but their content is hidden.
    content: row.deletedAt === null ? row.content : "",
    internal: row.internal,
    author: row.author,
    createTime: timestampFromDate(row.createdAt),
    updateTime: timestampFromDate(row.updatedAt),
    deleteTime: row.deletedAt === null ? undefined : timestampFromDate(row.deletedAt),
    etag: commentEtag(row),
    replyCount: row.replyCount,
  });
}
