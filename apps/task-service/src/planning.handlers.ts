/**
 * TaskService handlers for sprints (releases are in release.handlers.ts, milestones in milestone.handlers.ts).
 * A factory: dependencies in, a ServiceImpl slice out; one EntityManager fork per call.
 */

import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  PlanningRepository,
  type SprintFailure,
  type SprintListField,
  type SprintOrderField,
} from "@taskmaster/persistence/planning.repository";
import type { TaskRow } from "@taskmaster/persistence/task.repository";
import { SprintStateSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/planning_pb";
import {
  AssignTasksToSprintResponseSchema,
  CloseSprintResponseSchema,
  CreateSprintResponseSchema,
  DeleteSprintResponseSchema,
  GetSprintResponseSchema,
  ListSprintsResponseSchema,
  StartSprintResponseSchema,
  type TaskService,
  UpdateSprintResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { changeContext } from "@taskmaster/rpc-kit/call-context";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  NotFoundError,
  StaleEtagError,
} from "@taskmaster/rpc-kit/errors";
import { type ListSpec, listQueryOf } from "@taskmaster/rpc-kit/list-filter";
import { validator } from "@taskmaster/rpc-kit/validation";
import { sprintName, sprintStateCodec, sprintToMessage } from "./planning.mapper.js";
import {
  etagVersion,
  validateAssignTasks,
  validateCreateSprint,
  validateSprintRef,
  validateUpdateSprint,
} from "./planning.validation.js";
import { resolveStatusTransitions, type StatusTransitionTable } from "./status-transitions.js";
import { taskToMessage } from "./task.mapper.js";
import { taskName } from "./task.names.js";

export interface PlanningHandlerDeps {
  readonly orm: MikroORM;
  /** Status table override (its "done" set decides which blockers are open); default env, else built-in. */
  readonly statusTransitions?: StatusTransitionTable | string | undefined;
}

const SPRINTS: ListSpec<SprintListField, SprintOrderField> = {
  fields: {
    state: { kind: "enum", desc: SprintStateSchema, toDb: (n) => sprintStateCodec.toDb(n) },
    start_time: { kind: "timestamp" },
    end_time: { kind: "timestamp" },
  },
  orderFields: ["start_time", "end_time", "display_name"],
  defaultOrder: { field: "start_time", desc: true },
};

function sprintError(failure: SprintFailure, name: string, displayName = ""): Error {
  switch (failure.reason) {
    case "not_found":
      return new NotFoundError("sprint", name);
    case "stale":
      return new StaleEtagError("sprint", name);
    case "name_taken":
      return new AlreadyExistsError("sprint", undefined, `a sprint named "${displayName}" already exists`);
    case "destination_not_found":
      return new NotFoundError("sprint", name);
    case "bad_state":
      return new FailedPreconditionError(`sprint is ${failure.state.toUpperCase()}`, {
        reason: "INVALID_STATE",
        metadata: { state: failure.state },
        violations: [{ type: "STATE", subject: name, description: `the sprint is ${failure.state}` }],
      });
    case "has_tasks":
      return new FailedPreconditionError(
        `the sprint has ${failure.taskCount} assigned task(s); move them or delete with force`,
        {
          reason: "HAS_DEPENDANTS",
          metadata: { taskCount: String(failure.taskCount) },
          violations: [{ type: "TASKS", subject: name, description: "tasks are assigned to the sprint" }],
        },
      );
    case "other_active":
      return new FailedPreconditionError(`another sprint is active: ${sprintName(failure.activeId)}`, {
        reason: "INVALID_STATE",
        metadata: { activeSprint: sprintName(failure.activeId) },
        violations: [
          { type: "ACTIVE_SPRINT", subject: sprintName(failure.activeId), description: "already active" },
        ],
      });
    case "tasks_not_found":
      return new NotFoundError("task", failure.taskIds.map(taskName).join(", "));
  }
}

export function createPlanningHandlers(
  deps: PlanningHandlerDeps,
): Pick<
  ServiceImpl<typeof TaskService>,
  | "createSprint"
  | "getSprint"
  | "listSprints"
  | "updateSprint"
  | "deleteSprint"
  | "startSprint"
  | "closeSprint"
  | "assignTasksToSprint"
> {
  const done = resolveStatusTransitions(deps.statusTransitions).done;
  const toMessage = (row: TaskRow) => taskToMessage(row, done);
  const repository = () => new PlanningRepository(deps.orm.em.fork());

  return {
    async createSprint(req, ctx) {
      const fields = validateCreateSprint(req);
      if (req.validateOnly) return create(CreateSprintResponseSchema, {});
      const result = await repository().createSprint(fields, changeContext(ctx, req.requestId));
      if (!result.ok) throw sprintError(result, "", fields.name);
      return create(CreateSprintResponseSchema, { sprint: sprintToMessage(result.sprint) });
    },

    async getSprint(req) {
      const { id } = validateSprintRef("name", req.name);
      const row = await repository().getSprint(id);
      if (row === null) throw new NotFoundError("sprint", req.name);
      return create(GetSprintResponseSchema, { sprint: sprintToMessage(row) });
    },

    async listSprints(req) {
      const page = await repository().listSprints(
        listQueryOf(req, SPRINTS, { binding: ["sprints", req.filter, req.orderBy] }),
      );
      return create(ListSprintsResponseSchema, {
        sprints: page.items.map(sprintToMessage),
        nextPageToken: page.nextPageToken ?? "",
      });
    },

    async updateSprint(req) {
      const { id, patch, version } = validateUpdateSprint(req);
      const repo = repository();
      if (req.validateOnly) {
        const row = await repo.getSprint(id);
        if (row === null) throw new NotFoundError("sprint", req.sprint?.name ?? "");
        if (version !== null && version !== row.version) throw new StaleEtagError("sprint", req.sprint?.name);
        return create(UpdateSprintResponseSchema, { sprint: sprintToMessage(row) });
      }
      const result = await repo.updateSprint(id, patch, version);
      if (!result.ok) throw sprintError(result, req.sprint?.name ?? "", patch.name ?? "");
      return create(UpdateSprintResponseSchema, { sprint: sprintToMessage(result.sprint) });
    },

    async deleteSprint(req, ctx) {
      const { id, version } = validateSprintRef("name", req.name, req.etag);
      const result = await repository().deleteSprint(id, req.force, version, changeContext(ctx));
      if (!result.ok) throw sprintError(result, req.name);
      return create(DeleteSprintResponseSchema, { unassignedTaskCount: result.unassigned });
    },

    async startSprint(req) {
      const { id, version } = validateSprintRef("name", req.name, req.etag);
      const result = await repository().startSprint(id, version);
      if (!result.ok) throw sprintError(result, req.name);
      return create(StartSprintResponseSchema, { sprint: sprintToMessage(result.sprint) });
    },

    async closeSprint(req, ctx) {
      const v = validator();
      const id = v.resourceName("name", "sprints/{sprint}", req.name);
      const destinationId =
        req.destinationSprint === ""
          ? null
          : (v.resourceName("destination_sprint", "sprints/{sprint}", req.destinationSprint) ?? null);
      if (id !== undefined && destinationId === id) {
        v.add("destination_sprint", "must differ from the sprint being closed", "SAME_SPRINT");
      }
      v.uuid("request_id", req.requestId);
      const version = etagVersion(v, "etag", req.etag);
      v.check();
      const result = await repository().closeSprint(
        id as string,
        destinationId,
        version,
        changeContext(ctx, req.requestId),
      );
      if (!result.ok) {
        throw sprintError(
          result,
          result.reason === "destination_not_found" ? req.destinationSprint : req.name,
        );
      }
      return create(CloseSprintResponseSchema, {
        sprint: sprintToMessage(result.sprint),
        movedTasks: result.moved.map(taskName),
        completedTaskCount: result.completed,
      });
    },

    async assignTasksToSprint(req, ctx) {
      const { sprintId, taskIds } = validateAssignTasks(req);
      const result = await repository().assignTasks(sprintId, taskIds, changeContext(ctx));
      if (!result.ok) throw sprintError(result, req.sprint);
      return create(AssignTasksToSprintResponseSchema, { tasks: result.tasks.map(toMessage) });
    },
  };
}
