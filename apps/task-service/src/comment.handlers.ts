/**
 * TaskService comment handlers: CreateComment, GetComment, ListComments, UpdateComment, DeleteComment.
 * A factory; one EntityManager fork per call. Writes record `task.comment` outbox events (repository).
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { CommentRepository, type CommentWriteOutcome } from "@taskmaster/persistence/comment.repository";
import { CommentTypeSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/collaboration_pb";
import {
  CreateCommentResponseSchema,
  DeleteCommentResponseSchema,
  GetCommentResponseSchema,
  ListCommentsResponseSchema,
  type TaskService,
  UpdateCommentResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { actor, changeContext } from "@taskmaster/rpc-kit/call-context";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  StaleEtagError,
} from "@taskmaster/rpc-kit/errors";
import { type DialectListSpec, listQueryOf, SUBRESOURCE_SYNTAX } from "@taskmaster/rpc-kit/list-filter";
import { commentName, commentToMessage, commentTypeCodec } from "./comment.mapper.js";
import {
  validateCreateComment,
  validateDeleteComment,
  validateGetComment,
  validateListComments,
  validateUpdateComment,
} from "./comment.validation.js";
import { taskName } from "./task.names.js";

export interface CommentHandlerDeps {
  readonly orm: MikroORM;
}

const COMMENTS: DialectListSpec<"type" | "author" | "internal" | "create_time", "create_time"> = {
  fields: {
    type: { kind: "enum", desc: CommentTypeSchema, toDb: (n) => commentTypeCodec.toDb(n) },
    author: { kind: "string" },
    internal: { kind: "bool" },
    create_time: { kind: "timestamp" },
  },
  syntax: SUBRESOURCE_SYNTAX,
  orderFields: ["create_time"],
  defaultOrder: { field: "create_time", desc: false },
};

/** Author recorded when the call carries no actor (direct internal calls). */
const ANONYMOUS = "anonymous";

function unwrap(outcome: CommentWriteOutcome, taskId: string, commentId: string | null) {
  const name = commentId === null ? taskName(taskId) : commentName(taskId, commentId);
  switch (outcome.kind) {
    case "ok":
      return commentToMessage(outcome.comment);
    case "task_not_found":
      throw new NotFoundError("task", taskName(taskId));
    case "task_deleted":
      throw new FailedPreconditionError(`task "${taskName(taskId)}" is deleted; undelete it first`, {
        reason: "RESOURCE_DELETED",
        metadata: { resource: "task", id: taskName(taskId) },
      });
    case "parent_not_found":
      throw new InvalidArgumentError([
        {
          field: "comment.parent_comment",
          description: "does not name an existing comment of this task",
          reason: "NOT_FOUND",
        },
      ]);
    case "not_found":
      throw new NotFoundError("comment", name);
    case "stale":
      throw new StaleEtagError("comment", name);
    case "not_author":
      throw new PermissionDeniedError(
        "only the author may edit or delete this comment",
        "PERMISSION_DENIED",
        {
          resource: "comment",
          id: name,
        },
      );
  }
}

export function createCommentHandlers(
  deps: CommentHandlerDeps,
): Pick<
  ServiceImpl<typeof TaskService>,
  "createComment" | "getComment" | "listComments" | "updateComment" | "deleteComment"
> {
  const repository = () => new CommentRepository(deps.orm.em.fork());

  return {
    async createComment(req, ctx) {
      const { taskId, comment, parentId } = validateCreateComment(req);
      const input = {
        taskId,
        parentId,
        author: actor(ctx) ?? ANONYMOUS,
        content: comment.content,
        type: commentTypeCodec.toDb(comment.type) ?? "general",
        internal: comment.internal,
      };
      if (req.validateOnly) return create(CreateCommentResponseSchema, {});
      const outcome = await repository().create(input, changeContext(ctx, req.requestId));
      return create(CreateCommentResponseSchema, { comment: unwrap(outcome, taskId, null) });
    },

    async getComment(req) {
      const { taskId, commentId } = validateGetComment(req.name);
      const row = await repository().get(taskId, commentId);
      if (row === null) throw new NotFoundError("comment", req.name);
      return create(GetCommentResponseSchema, { comment: commentToMessage(row) });
    },

    async listComments(req) {
      const { taskId, threadId, pageSize } = validateListComments(req);
      const { orderBy, ...query } = listQueryOf(req, COMMENTS, {
        pageSize,
        binding: (order) => ["comments", req.parent, req.thread, req.filter, order.desc, req.showDeleted],
      });
      const repo = repository();
      if (!(await repo.threadExistsOrTask(taskId, threadId))) {
        throw threadId === null
          ? new NotFoundError("task", req.parent)
          : new NotFoundError("comment", req.thread);
      }
      const page = await repo.list({
        taskId,
        threadId,
        ...query,
        descending: orderBy.desc,
        includeDeleted: req.showDeleted,
      });
      return create(ListCommentsResponseSchema, {
        comments: page.items.map(commentToMessage),
        nextPageToken: page.nextPageToken ?? "",
      });
    },

    async updateComment(req, ctx) {
      const { taskId, commentId, paths, expectedVersion } = validateUpdateComment(req);
      const c = req.comment;
      const changes = {
        ...(paths.has("content") && c && { content: c.content }),
        ...(paths.has("type") && c && { type: commentTypeCodec.toDb(c.type) ?? "general" }),
        ...(paths.has("internal") && c && { internal: c.internal }),
      };
      const outcome = await repository().update(
        taskId,
        commentId,
        changes,
        { expectedVersion, editor: actor(ctx), admin: false },
        changeContext(ctx),
      );
      return create(UpdateCommentResponseSchema, { comment: unwrap(outcome, taskId, commentId) });
    },

    async deleteComment(req, ctx) {
      const { taskId, commentId, expectedVersion } = validateDeleteComment(req);
      const outcome = await repository().softDelete(
        taskId,
        commentId,
        { expectedVersion, editor: actor(ctx), admin: false },
        changeContext(ctx),
      );
      return create(DeleteCommentResponseSchema, { comment: unwrap(outcome, taskId, commentId) });
    },
  };
}
