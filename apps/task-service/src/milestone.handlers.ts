/**
 * TaskService handlers for milestones. A factory: dependencies in, a ServiceImpl slice out; one EntityManager
 * fork per call.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  type MilestoneFailure,
  type MilestoneListField,
  type MilestoneOrderField,
  MilestoneRepository,
} from "@taskmaster/persistence/milestone.repository";
import { MilestoneStateSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/planning_pb";
import {
  CreateMilestoneResponseSchema,
  DeleteMilestoneResponseSchema,
  GetMilestoneResponseSchema,
  ListMilestonesResponseSchema,
  type TaskService,
  UpdateMilestoneResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { changeContext } from "@taskmaster/rpc-kit/call-context";
import { FailedPreconditionError, NotFoundError, StaleEtagError } from "@taskmaster/rpc-kit/errors";
import { type ListSpec, listQueryOf } from "@taskmaster/rpc-kit/list-filter";
import { milestoneStateCodec, milestoneToMessage } from "./milestone.mapper.js";
import {
  validateCreateMilestone,
  validateMilestoneRef,
  validateUpdateMilestone,
} from "./milestone.validation.js";
import { releaseName } from "./release.mapper.js";
import { RELEASE_PATTERN } from "./task.names.js";

export interface MilestoneHandlerDeps {
  readonly orm: MikroORM;
}

const MILESTONES: ListSpec<MilestoneListField, MilestoneOrderField> = {
  fields: {
    state: { kind: "enum", desc: MilestoneStateSchema, toDb: (n) => milestoneStateCodec.toDb(n) },
    due_time: { kind: "timestamp" },
    release: { kind: "name", pattern: RELEASE_PATTERN, nullable: true },
  },
  orderFields: ["due_time", "display_name"],
  defaultOrder: { field: "due_time", desc: false },
};

function milestoneError(failure: MilestoneFailure, name: string, releaseId: string | null = null): Error {
  switch (failure.reason) {
    case "not_found":
      return new NotFoundError("milestone", name);
    case "stale":
      return new StaleEtagError("milestone", name);
    case "release_not_found":
      return new NotFoundError("release", releaseId === null ? "" : releaseName(releaseId));
    case "has_tasks":
      return new FailedPreconditionError(
        `the milestone has ${failure.taskCount} assigned task(s); reassign them or delete with force`,
        {
          reason: "HAS_DEPENDANTS",
          metadata: { taskCount: String(failure.taskCount) },
          violations: [{ type: "TASKS", subject: name, description: "tasks reference the milestone" }],
        },
      );
  }
}

export function createMilestoneHandlers(
  deps: MilestoneHandlerDeps,
): Pick<
  ServiceImpl<typeof TaskService>,
  "createMilestone" | "getMilestone" | "listMilestones" | "updateMilestone" | "deleteMilestone"
> {
  const repository = () => new MilestoneRepository(deps.orm.em.fork());

  return {
    async createMilestone(req, ctx) {
      const fields = validateCreateMilestone(req);
      if (req.validateOnly) return create(CreateMilestoneResponseSchema, {});
      const result = await repository().createMilestone(fields, changeContext(ctx, req.requestId));
      if (!result.ok) throw milestoneError(result, "", fields.releaseId);
      return create(CreateMilestoneResponseSchema, { milestone: milestoneToMessage(result.milestone) });
    },

    async getMilestone(req) {
      const { id } = validateMilestoneRef(req.name);
      const row = await repository().getMilestone(id);
      if (row === null) throw new NotFoundError("milestone", req.name);
      return create(GetMilestoneResponseSchema, { milestone: milestoneToMessage(row) });
    },

    async listMilestones(req) {
      const page = await repository().listMilestones(
        listQueryOf(req, MILESTONES, { binding: ["milestones", req.filter, req.orderBy] }),
      );
      return create(ListMilestonesResponseSchema, {
        milestones: page.items.map(milestoneToMessage),
        nextPageToken: page.nextPageToken ?? "",
      });
    },

    async updateMilestone(req) {
      const { id, patch, version } = validateUpdateMilestone(req);
      const name = req.milestone?.name ?? "";
      const repo = repository();
      if (req.validateOnly) {
        const row = await repo.getMilestone(id);
        if (row === null) throw new NotFoundError("milestone", name);
        if (version !== null && version !== row.version) throw new StaleEtagError("milestone", name);
        return create(UpdateMilestoneResponseSchema, { milestone: milestoneToMessage(row) });
      }
      const result = await repo.updateMilestone(id, patch, version);
      if (!result.ok) throw milestoneError(result, name, patch.releaseId ?? null);
      return create(UpdateMilestoneResponseSchema, { milestone: milestoneToMessage(result.milestone) });
    },

    async deleteMilestone(req, ctx) {
      const { id, version } = validateMilestoneRef(req.name, req.etag);
      const result = await repository().deleteMilestone(id, req.force, version, changeContext(ctx));
      if (!result.ok) throw milestoneError(result, req.name);
      return create(DeleteMilestoneResponseSchema, { unassignedTaskCount: result.unassigned });
    },
  };
}
