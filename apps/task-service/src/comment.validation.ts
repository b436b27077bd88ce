/** Request validation for comment RPCs: every violation at once (INVALID_ARGUMENT with field violations). */
import type { Comment } from "@taskmaster/proto/gen/taskmaster/task/v1/collaboration_pb";
import { CommentTypeSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/collaboration_pb";
import type {
  CreateCommentRequest,
  DeleteCommentRequest,
  ListCommentsRequest,
  UpdateCommentRequest,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { parseResourceName, type Validator, validator } from "@taskmaster/rpc-kit/validation";
import { COMMENT_PATTERN } from "./comment.mapper.js";
import { TASK_PATTERN } from "./task.names.js";
import { etagVersion, noNul } from "./workflow.validation.js";

const MAX_CONTENT = 20_000;

/** A comment name's task and comment ids; records a violation when malformed. */
export function commentIds(
  v: Validator,
  field: string,
  name: string,
): { taskId: string; commentId: string } | null {
  if (!v.required(field, name)) return null;
  const parsed = parseResourceName(COMMENT_PATTERN, name);
  if (!parsed.ok) {
    v.add(field, parsed.description, "INVALID_RESOURCE_NAME");
    return null;
  }
  return { taskId: parsed.ids.task as string, commentId: parsed.ids.comment as string };
}

function content(v: Validator, field: string, value: string): void {
  if (v.required(field, value)) v.length(field, value, 1, MAX_CONTENT);
  noNul(v, field, value);
}

export function validateCreateComment(req: CreateCommentRequest): {
  taskId: string;
  comment: Comment;
  parentId: string | null;
} {
  const v = validator();
  const taskId = v.resourceName("parent", TASK_PATTERN, req.parent);
  let parentId: string | null = null;
  if (v.required("comment", req.comment) && req.comment) {
    const c = req.comment;
    content(v, "comment.content", c.content);
    v.enumDefined("comment.type", c.type, CommentTypeSchema, { allowUnspecified: true });
    if (c.parentComment !== "") {
      const ids = commentIds(v, "comment.parent_comment", c.parentComment);
      if (ids && taskId !== undefined && ids.taskId !== taskId) {
        v.add("comment.parent_comment", "must be a comment of the same task", "DIFFERENT_TASK");
      }
      parentId = ids?.commentId ?? null;
    }
  }
  v.uuid("request_id", req.requestId);
  v.check();
  return { taskId: taskId as string, comment: req.comment as Comment, parentId };
}

export function validateGetComment(name: string): { taskId: string; commentId: string } {
  const v = validator();
  const ids = commentIds(v, "name", name);
  v.check();
  return ids as { taskId: string; commentId: string };
}

export function validateListComments(req: ListCommentsRequest): {
  taskId: string;
  threadId: string | null;
  pageSize: number;
} {
  const v = validator();
  const taskId = v.resourceName("parent", TASK_PATTERN, req.parent);
  let threadId: string | null = null;
  if (req.thread !== "") {
    const ids = commentIds(v, "thread", req.thread);
    if (ids && taskId !== undefined && ids.taskId !== taskId) {
      v.add("thread", "must be a comment of the parent task", "DIFFERENT_TASK");
    }
    threadId = ids?.commentId ?? null;
  }
  const pageSize = v.pageSize("page_size", req.pageSize);
  v.maxLength("filter", req.filter, 2_000);
  v.maxLength("page_token", req.pageToken, 1_000);
  v.check();
  return { taskId: taskId as string, threadId, pageSize };
}

const UPDATABLE = ["content", "type", "internal"] as const;
type Updatable = (typeof UPDATABLE)[number];

export function validateUpdateComment(req: UpdateCommentRequest): {
  taskId: string;
  commentId: string;
  paths: Set<Updatable>;
  expectedVersion: number | null;
} {
  const v = validator();
  let ids: { taskId: string; commentId: string } | null = null;
  const paths = new Set<Updatable>();
  let expectedVersion: number | null = null;
  if (v.required("comment", req.comment) && req.comment) {
    const c = req.comment;
    ids = commentIds(v, "comment.name", c.name);
    expectedVersion = etagVersion(v, "comment.etag", c.etag);
    const mask = req.updateMask?.paths ?? [];
    if (mask.length === 0) v.add("update_mask", "is required (paths: content, type, internal)", "REQUIRED");
    for (const path of mask) {
      if (path === "*") for (const p of UPDATABLE) paths.add(p);
      else if ((UPDATABLE as readonly string[]).includes(path)) paths.add(path as Updatable);
      else
        v.add(
          "update_mask",
          `"${path}" is not updatable (allowed: content, type, internal)`,
          "NOT_UPDATABLE",
        );
    }
    if (paths.has("content")) content(v, "comment.content", c.content);
    if (paths.has("type"))
      v.enumDefined("comment.type", c.type, CommentTypeSchema, { allowUnspecified: true });
  }
  v.check();
  const { taskId, commentId } = ids as { taskId: string; commentId: string };
  return { taskId, commentId, paths, expectedVersion };
}

export function validateDeleteComment(req: DeleteCommentRequest): {
  taskId: string;
  commentId: string;
  expectedVersion: number | null;
} {
  const v = validator();
  const ids = commentIds(v, "name", req.name);
  const expectedVersion = etagVersion(v, "etag", req.etag);
  v.check();
  const { taskId, commentId } = ids as { taskId: string; commentId: string };
  return { taskId, commentId, expectedVersion };
}
