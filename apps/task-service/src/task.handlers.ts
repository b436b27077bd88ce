/**
 * TaskService handlers for the task resource and its hierarchy. A factory: dependencies come in, a Connect
 * `ServiceImpl` slice goes out, so the same handlers run on grpc-js, connect-node and in-process tests.
 */
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { newId } from "@taskmaster/persistence/ids";
import {
  type CreateTaskInput,
  TaskCycleError,
  TaskHierarchyError,
  TaskNotFoundError,
  TaskReferenceTakenError,
  TaskRepository,
  type TaskRow,
  TaskVersionConflictError,
} from "@taskmaster/persistence/task.repository";
import type { TaskType } from "@taskmaster/persistence/value-sets";
import { CycleDetailSchema } from "@taskmaster/proto/gen/taskmaster/common/v1/errors_pb";
import {
  BatchCreateTasksResponseSchema,
  BatchGetTasksResponseSchema,
  CreateTaskResponseSchema,
  DeleteTaskResponseSchema,
  GetTaskResponseSchema,
  ListChildTasksResponseSchema,
  ListTaskAncestorsResponseSchema,
  ListTasksResponseSchema,
  LookupTaskResponseSchema,
  MoveTaskResponseSchema,
  type TaskService,
  UndeleteTaskResponseSchema,
  UpdateTaskResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { changeContext } from "@taskmaster/rpc-kit/call-context";
import {
  AlreadyExistsError,
  type ErrorReasonName,
  errorTranslator,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  StaleEtagError,
} from "@taskmaster/rpc-kit/errors";
import { resolveStatusTransitions, type StatusTransitionTable } from "./status-transitions.js";
import { compileTaskFilter, parseTaskOrderBy } from "./task.filter.js";
import { createInputFromMessage, patchFromMessage, previewRow, taskToMessage } from "./task.mapper.js";
import { taskName } from "./task.names.js";
import {
  validateBatchCreateTasks,
  validateBatchGetTasks,
  validateCreateTask,
  validateDeleteTask,
  validateGetTask,
  validateListChildTasks,
  validateListTasks,
  validateLookupTask,
  validateMoveTask,
  validateTaskName,
  validateUpdateTask,
} from "./task.validation.js";
import {
  checkTypeChange,
  liveRef,
  type RefInfo,
  resolveRefs,
  TASK_HIERARCHY_RULES,
} from "./task-hierarchy.service.js";

export interface TaskHandlerDeps {
  readonly orm: MikroORM;
  /** Status table override (its "done" set decides which blockers are open); default env, else built-in. */
  readonly statusTransitions?: StatusTransitionTable | string | undefined;
}

/** FAILED_PRECONDITION for a hierarchy cycle, carrying taskmaster.common.v1.CycleDetail. */
class CycleError extends FailedPreconditionError {
  constructor(readonly path: string[]) {
    super(`moving the task would create a cycle: ${path.join(" -> ")}`, {
      reason: "CYCLE_DETECTED",
      violations: [
        { type: "CYCLE", subject: path[0] ?? "", description: "the new parent is in the task's subtree" },
      ],
    });
  }
  protected override extraDetails() {
    return [
      ...super.extraDetails(),
      {
        desc: CycleDetailSchema as DescMessage,
        value: { path: this.path, link: "parent" } as MessageInitShape<DescMessage>,
      },
    ];
  }
}

/** ErrorInfo reason of each repository hierarchy failure. */
const HIERARCHY_REASONS: Readonly<Record<TaskHierarchyError["reason"], ErrorReasonName>> = {
  HAS_DEPENDANTS: "HAS_DEPENDANTS",
  NOT_DELETED: "INVALID_STATE",
  PARENT_DELETED: "RESOURCE_DELETED",
  DEPTH_EXCEEDED: "HIERARCHY_VIOLATION",
  TYPE_HIERARCHY: "HIERARCHY_VIOLATION",
};

/** Repository errors -> domain errors (everything else propagates to the error interceptor). */
function domainError(err: unknown): unknown {
  if (err instanceof TaskNotFoundError) return new NotFoundError("task", taskName(err.id));
  if (err instanceof TaskVersionConflictError) return new StaleEtagError("task", taskName(err.id));
  if (err instanceof TaskReferenceTakenError) return referenceTaken(err.field);
  if (err instanceof TaskCycleError) return new CycleError(err.path.map(taskName));
  if (err instanceof TaskHierarchyError)
    return new FailedPreconditionError(err.message, { reason: HIERARCHY_REASONS[err.reason] });
  return err;
}

function referenceTaken(field: string): AlreadyExistsError {
  return new AlreadyExistsError("task", undefined, `another live task already has this ${field}`);
}

const mapped = errorTranslator(domainError);

export function createTaskHandlers(
  deps: TaskHandlerDeps,
): Pick<
  ServiceImpl<typeof TaskService>,
  | "createTask"
  | "batchCreateTasks"
  | "getTask"
  | "batchGetTasks"
  | "listTasks"
  | "updateTask"
  | "deleteTask"
  | "undeleteTask"
  | "lookupTask"
  | "moveTask"
  | "listChildTasks"
  | "listTaskAncestors"
> {
  const done = resolveStatusTransitions(deps.statusTransitions).done;
  const toMessage = (row: TaskRow) => taskToMessage(row, done);
  // One EntityManager fork per call: an isolated identity map and transaction scope.
  const repository = () => new TaskRepository(deps.orm.em.fork());
  // Pure point reads (GetTask) keep nothing per call: getById outside a transaction runs a prepared
  // statement on the pool and never touches the fork's identity map, so one fork serves every call.
  const reads = new TaskRepository(deps.orm.em.fork());

  /** ALREADY_EXISTS when a unique external reference of `input` is taken by a live task (validate_only path). */
  async function checkReferencesFree(repo: TaskRepository, input: CreateTaskInput): Promise<void> {
    const refs = [
      ["externalId", "external_id"],
      ["githubIssueUrl", "github_issue_url"],
      ["githubPrUrl", "github_pr_url"],
      ["linearIssueId", "linear_issue_id"],
      ["jiraKey", "jira_key"],
    ] as const;
    for (const [key, field] of refs) {
      const value = input[key];
      if (typeof value === "string" && (await repo.lookup(key, value)) !== null) throw referenceTaken(field);
    }
  }

  return {
    async createTask(req, ctx) {
      const { task, refs, taskId } = validateCreateTask(req);
      const repo = repository();
      const type = (createInputFromMessage(task, refs).type ?? "task") as TaskType;
      const resolved = await resolveRefs("task", type, refs, (id) => liveRef(repo, id));
      const call = changeContext(ctx, req.requestId);
      const input: CreateTaskInput = {
        ...createInputFromMessage(task, resolved.refs),
        ...(taskId !== undefined && { id: taskId }),
      };
      if (input.reporter == null && call.actor !== null) input.reporter = call.actor;
      if (req.validateOnly) {
        if (taskId !== undefined && (await repo.getById(taskId, { includeDeleted: true })) !== null) {
          throw new AlreadyExistsError("task", taskName(taskId));
        }
        await checkReferencesFree(repo, input);
        const row = previewRow({ ...input, id: taskId ?? newId() }, new Date());
        return create(CreateTaskResponseSchema, { task: toMessage(row) });
      }
      const row = await mapped(() => repo.create(input, call));
      return create(CreateTaskResponseSchema, { task: toMessage(row) });
    },

    async batchCreateTasks(req, ctx) {
      const items = validateBatchCreateTasks(req);
      const repo = repository();
      const batch = new Map<string, RefInfo>();
      const dbCache = new Map<string, RefInfo | null>();
      const lookup = async (id: string): Promise<RefInfo | null> => {
        const fromBatch = batch.get(id);
        if (fromBatch) return fromBatch;
        if (!dbCache.has(id)) dbCache.set(id, await liveRef(repo, id));
        return dbCache.get(id) ?? null;
      };
      const inputs: (CreateTaskInput & { id: string })[] = [];
      const call = changeContext(ctx, req.requestId);
      for (const [i, item] of items.entries()) {
        const type = (createInputFromMessage(item.task, item.refs).type ?? "task") as TaskType;
        const { refs, parent } = await resolveRefs(`requests[${i}].task`, type, item.refs, lookup);
        const id = item.taskId ?? newId();
        const input = { ...createInputFromMessage(item.task, refs), id };
        if (input.reporter == null && call.actor !== null) input.reporter = call.actor;
        inputs.push(input);
        batch.set(id, {
          id,
          type,
          depth: parent === null ? 0 : parent.depth + 1,
          nearestEpic: type === "epic" ? id : (parent?.nearestEpic ?? null),
        });
      }
      if (req.validateOnly) {
        const now = new Date();
        return create(BatchCreateTasksResponseSchema, {
          tasks: inputs.map((input) => toMessage(previewRow(input, now))),
        });
      }
      const rows = await mapped(() => repo.batchCreate(inputs, call));
      return create(BatchCreateTasksResponseSchema, { tasks: rows.map(toMessage) });
    },

    async getTask(req) {
      const id = validateGetTask(req.name);
      const row = await reads.getById(id, { includeDeleted: true });
      if (row === null) throw new NotFoundError("task", req.name);
      return create(GetTaskResponseSchema, { task: toMessage(row) });
    },

    async batchGetTasks(req) {
      const ids = validateBatchGetTasks(req);
      const found = await repository().getMany(ids);
      const rows: TaskRow[] = [];
      for (const [i, id] of ids.entries()) {
        const row = found.get(id);
        if (row === undefined) throw new NotFoundError("task", req.names[i] ?? taskName(id));
        rows.push(row);
      }
      return create(BatchGetTasksResponseSchema, { tasks: rows.map(toMessage) });
    },

    async listTasks(req) {
      const { pageSize } = validateListTasks(req);
      const filter = compileTaskFilter(req.filter);
      const orderBy = parseTaskOrderBy(req.orderBy);
      const page = await mapped(() =>
        repository().list({
          pageSize,
          pageToken: req.pageToken === "" ? null : req.pageToken,
          orderBy,
          where: filter.condition,
          // ARCHIVED tasks are hidden from default lists unless the filter asks about status.
          excludeArchived: !filter.fields.has("status"),
          includeDeleted: req.showDeleted,
          binding: req.filter,
          withTotal: true,
        }),
      );
      return create(ListTasksResponseSchema, {
        tasks: page.items.map(toMessage),
        nextPageToken: page.nextPageToken ?? "",
        totalSize: page.totalSize,
      });
    },

    async updateTask(req, ctx) {
      const { id, expectedVersion, paths, task, refs } = validateUpdateTask(req);
      const repo = repository();
      if (paths.includes("epic") && refs.epicId !== null) {
        const epic = await repo.getById(refs.epicId);
        if (epic === null || epic.type !== "epic") {
          throw new InvalidArgumentError([
            {
              field: "task.epic",
              description:
                epic === null
                  ? `task "tasks/${refs.epicId}" does not exist`
                  : "must name a task of type TASK_TYPE_EPIC",
              reason: epic === null ? "NOT_FOUND" : "NOT_AN_EPIC",
            },
          ]);
        }
      }
      const patch = patchFromMessage(task, paths, refs);
      if (patch.type !== undefined) {
        // A type change must keep the hierarchy rules with the parent and the children.
        if (!(await checkTypeChange(repo, id, patch.type))) throw new NotFoundError("task", taskName(id));
      }
      if (req.validateOnly) {
        const current = await repo.getById(id);
        if (current === null) throw new NotFoundError("task", taskName(id));
        if (expectedVersion !== null && current.version !== expectedVersion)
          throw new StaleEtagError("task", taskName(id));
        return create(UpdateTaskResponseSchema, { task: toMessage({ ...current, ...patch } as TaskRow) });
      }
      const row = await mapped(() => repo.update(id, patch, expectedVersion, changeContext(ctx)));
      return create(UpdateTaskResponseSchema, { task: toMessage(row) });
    },

    async deleteTask(req, ctx) {
      const { id, expectedVersion } = validateDeleteTask(req);
      const row = await mapped(() =>
        repository().softDelete(
          id,
          { expectedVersion, cascade: req.cascade, validateOnly: req.validateOnly },
          changeContext(ctx),
        ),
      );
      return create(DeleteTaskResponseSchema, { task: toMessage(row) });
    },

    async undeleteTask(req, ctx) {
      const { id, expectedVersion } = validateDeleteTask(req);
      const row = await mapped(() =>
        repository().undelete(id, { expectedVersion, validateOnly: req.validateOnly }, changeContext(ctx)),
      );
      return create(UndeleteTaskResponseSchema, { task: toMessage(row) });
    },

    async lookupTask(req) {
      const { kind, value } = validateLookupTask(req);
      const row = await repository().lookup(kind, value);
      if (row === null) throw new NotFoundError("task", value);
      return create(LookupTaskResponseSchema, { task: toMessage(row) });
    },

    async moveTask(req, ctx) {
      const { id, newParentId, expectedVersion } = validateMoveTask(req);
      const result = await mapped(() =>
        repository().move(
          id,
          newParentId,
          { expectedVersion, validateOnly: req.validateOnly, rules: TASK_HIERARCHY_RULES },
          changeContext(ctx),
        ),
      );
      return create(MoveTaskResponseSchema, {
        task: toMessage(req.validateOnly ? { ...result.row, parentId: newParentId } : result.row),
        movedDescendantCount: result.movedDescendantCount,
      });
    },

    async listChildTasks(req) {
      const { parentId, pageSize } = validateListChildTasks(req);
      const filter = compileTaskFilter(req.filter);
      const repo = repository();
      if ((await repo.getById(parentId, { includeDeleted: req.showDeleted })) === null) {
        throw new NotFoundError("task", req.parent);
      }
      const page = await mapped(() =>
        repo.listChildren(parentId, {
          recursive: req.recursive,
          pageSize,
          pageToken: req.pageToken === "" ? null : req.pageToken,
          where: filter.condition,
          includeDeleted: req.showDeleted,
          binding: req.filter,
        }),
      );
      return create(ListChildTasksResponseSchema, {
        tasks: page.items.map((item) => toMessage(item.row)),
        depths: page.items.map((item) => item.depth),
        nextPageToken: page.nextPageToken ?? "",
      });
    },

    async listTaskAncestors(req) {
      const id = validateTaskName("name", req.name);
      const repo = repository();
      if ((await repo.getById(id, { includeDeleted: true })) === null)
        throw new NotFoundError("task", req.name);
      const rows = await repo.ancestors(id);
      return create(ListTaskAncestorsResponseSchema, { ancestors: rows.map(toMessage) });
    },
  };
}
