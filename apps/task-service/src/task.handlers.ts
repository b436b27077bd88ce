/**
 * TaskService handlers for tasks (create, get, list). A factory: dependencies come in, a Connect
 * `ServiceImpl` slice goes out, so the same handlers run on grpc-js, connect-node and in-process tests.
 */
import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { InvalidPageTokenError, TaskRepository } from "@taskmaster/persistence/task.repository";
import {
  CreateTaskResponseSchema,
  GetTaskResponseSchema,
  ListTasksResponseSchema,
  type TaskService,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { InvalidArgumentError, NotFoundError } from "@taskmaster/rpc-kit/errors";
import { parseTaskFilter, parseTaskOrderBy } from "./task.filter.js";
import { createInputFromMessage, taskToMessage } from "./task.mapper.js";
import { validateCreateTask, validateGetTask, validateListTasks } from "./task.validation.js";

export interface TaskHandlerDeps {
  readonly orm: MikroORM;
}

/** Caller identity as passed on by the gateway (verified there); absent for direct internal calls. */
function actor(ctx: HandlerContext): string | null {
  return ctx.requestHeader.get("x-taskmaster-actor");
}

function traceId(ctx: HandlerContext): string | null {
  const traceparent = ctx.requestHeader.get("traceparent");
  return traceparent?.split("-")[1] ?? null;
}

export function createTaskHandlers(
  deps: TaskHandlerDeps,
): Pick<ServiceImpl<typeof TaskService>, "createTask" | "getTask" | "listTasks"> {
  // One EntityManager fork per call: an isolated identity map and transaction scope.
  const repository = () => new TaskRepository(deps.orm.em.fork());

  return {
    async createTask(req, ctx) {
      const { task, refs, taskId } = validateCreateTask(req);
      const repo = repository();
      for (const [field, id] of [
        ["task.parent", refs.parentId],
        ["task.epic", refs.epicId],
      ] as const) {
        if (id !== null && (await repo.getById(id)) === null) {
          throw new InvalidArgumentError([
            { field, description: `task "tasks/${id}" does not exist`, reason: "NOT_FOUND" },
          ]);
        }
      }
      const input = { ...createInputFromMessage(task, refs), ...(taskId !== undefined && { id: taskId }) };
      if (req.validateOnly) {
        return create(CreateTaskResponseSchema, {});
      }
      const row = await repo.create(input, {
        actor: actor(ctx),
        requestId: req.requestId === "" ? null : req.requestId,
        traceId: traceId(ctx),
      });
      return create(CreateTaskResponseSchema, { task: taskToMessage(row) });
    },

    async getTask(req) {
      const id = validateGetTask(req.name);
      const row = await repository().getById(id, { includeDeleted: true });
      if (row === null) throw new NotFoundError("task", req.name);
      return create(GetTaskResponseSchema, { task: taskToMessage(row) });
    },

    async listTasks(req) {
      const { pageSize } = validateListTasks(req);
      const filter = parseTaskFilter(req.filter);
      const order = parseTaskOrderBy(req.orderBy);
      try {
        const page = await repository().list({
          pageSize,
          pageToken: req.pageToken === "" ? null : req.pageToken,
          descending: order.descending,
          filter,
          includeDeleted: req.showDeleted,
        });
        return create(ListTasksResponseSchema, {
          tasks: page.items.map(taskToMessage),
          nextPageToken: page.nextPageToken ?? "",
        });
      } catch (error) {
        if (error instanceof InvalidPageTokenError) {
          throw new InvalidArgumentError([
            {
              field: "page_token",
              description: "is not a token from a previous ListTasks response",
              reason: "INVALID_PAGE_TOKEN",
            },
          ]);
        }
        throw error;
      }
    },
  };
}
