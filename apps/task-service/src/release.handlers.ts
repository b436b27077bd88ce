/**
 * TaskService handlers for releases. A factory: dependencies in, a ServiceImpl slice out; one EntityManager
 * fork per call.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  type ReleaseFailure,
  type ReleaseListField,
  type ReleaseOrderField,
  ReleaseRepository,
} from "@taskmaster/persistence/release.repository";
import { ReleaseStateSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/planning_pb";
import {
  CreateReleaseResponseSchema,
  DeleteReleaseResponseSchema,
  GetReleaseResponseSchema,
  ListReleasesResponseSchema,
  type TaskService,
  UpdateReleaseResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { changeContext } from "@taskmaster/rpc-kit/call-context";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  NotFoundError,
  StaleEtagError,
} from "@taskmaster/rpc-kit/errors";
import { type ListSpec, listQueryOf } from "@taskmaster/rpc-kit/list-filter";
import { releaseStateCodec, releaseToMessage } from "./release.mapper.js";
import { validateCreateRelease, validateReleaseRef, validateUpdateRelease } from "./release.validation.js";

export interface ReleaseHandlerDeps {
  readonly orm: MikroORM;
}

const RELEASES: ListSpec<ReleaseListField, ReleaseOrderField> = {
  fields: {
    state: { kind: "enum", desc: ReleaseStateSchema, toDb: (n) => releaseStateCodec.toDb(n) },
    version: { kind: "string" },
    target_time: { kind: "timestamp" },
    release_time: { kind: "timestamp" },
  },
  orderFields: ["target_time", "release_time", "version"],
  defaultOrder: { field: "target_time", desc: true },
};

function releaseError(failure: ReleaseFailure, name: string, label = ""): Error {
  switch (failure.reason) {
    case "not_found":
      return new NotFoundError("release", name);
    case "stale":
      return new StaleEtagError("release", name);
    case "label_taken":
      return new AlreadyExistsError("release", undefined, `a release with version "${label}" already exists`);
    case "release_time_not_released":
      return new FailedPreconditionError("release_time may only be set on a RELEASED release", {
        reason: "INVALID_STATE",
        violations: [{ type: "STATE", subject: name, description: "the release is not RELEASED" }],
      });
    case "has_tasks":
      return new FailedPreconditionError(
        `the release has ${failure.taskCount} assigned task(s); reassign them or delete with force`,
        {
          reason: "HAS_DEPENDANTS",
          metadata: { taskCount: String(failure.taskCount) },
          violations: [{ type: "TASKS", subject: name, description: "tasks reference the release" }],
        },
      );
  }
}

export function createReleaseHandlers(
  deps: ReleaseHandlerDeps,
): Pick<
  ServiceImpl<typeof TaskService>,
  "createRelease" | "getRelease" | "listReleases" | "updateRelease" | "deleteRelease"
> {
  const repository = () => new ReleaseRepository(deps.orm.em.fork());

  return {
    async createRelease(req, ctx) {
      const fields = validateCreateRelease(req);
      if (req.validateOnly) return create(CreateReleaseResponseSchema, {});
      const result = await repository().createRelease(fields, changeContext(ctx, req.requestId));
      if (!result.ok) throw releaseError(result, "", fields.label);
      return create(CreateReleaseResponseSchema, { release: releaseToMessage(result.release) });
    },

    async getRelease(req) {
      const { id } = validateReleaseRef(req.name);
      const row = await repository().getRelease(id);
      if (row === null) throw new NotFoundError("release", req.name);
      return create(GetReleaseResponseSchema, { release: releaseToMessage(row) });
    },

    async listReleases(req) {
      const page = await repository().listReleases(
        listQueryOf(req, RELEASES, { binding: ["releases", req.filter, req.orderBy] }),
      );
      return create(ListReleasesResponseSchema, {
        releases: page.items.map(releaseToMessage),
        nextPageToken: page.nextPageToken ?? "",
      });
    },

    async updateRelease(req) {
      const { id, patch, version } = validateUpdateRelease(req);
      const name = req.release?.name ?? "";
      const repo = repository();
      if (req.validateOnly) {
        const row = await repo.getRelease(id);
        if (row === null) throw new NotFoundError("release", name);
        if (version !== null && version !== row.version) throw new StaleEtagError("release", name);
        return create(UpdateReleaseResponseSchema, { release: releaseToMessage(row) });
      }
      const result = await repo.updateRelease(id, patch, version);
      if (!result.ok) throw releaseError(result, name, patch.label ?? "");
      return create(UpdateReleaseResponseSchema, { release: releaseToMessage(result.release) });
    },

    async deleteRelease(req, ctx) {
      const { id, version } = validateReleaseRef(req.name, req.etag);
      const result = await repository().deleteRelease(id, req.force, version, changeContext(ctx));
      if (!result.ok) throw releaseError(result, req.name);
      return create(DeleteReleaseResponseSchema, { unassignedTaskCount: result.unassigned });
    },
  };
}
