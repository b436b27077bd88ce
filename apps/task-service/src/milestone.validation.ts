/** Request validation for the milestone RPCs. */
import type { MilestoneFields } from "@taskmaster/persistence/milestone.repository";
import {
  type Milestone,
  MilestoneState,
  MilestoneStateSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/planning_pb";
import type {
  CreateMilestoneRequest,
  UpdateMilestoneRequest,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { type Validator, validator } from "@taskmaster/rpc-kit/validation";
import { milestoneStateCodec } from "./milestone.mapper.js";
import { etagVersion } from "./planning.validation.js";
import { maskPaths, textField, timestampField } from "./release.validation.js";
import { MILESTONE_PATTERN, RELEASE_PATTERN } from "./task.names.js";

const UPDATABLE = ["display_name", "description", "state", "due_time", "release"] as const;
type Updatable = (typeof UPDATABLE)[number];

function milestoneFields(
  v: Validator,
  milestone: Milestone,
  only: ReadonlySet<Updatable> | undefined,
): Partial<MilestoneFields> {
  const has = (f: Updatable) => only === undefined || only.has(f);
  const out: Partial<MilestoneFields> = {};
  if (has("display_name")) {
    const name = milestone.displayName.trim();
    if (v.required("milestone.display_name", name)) textField(v, "milestone.display_name", name, 200);
    out.name = name;
  }
  if (has("description")) {
    textField(v, "milestone.description", milestone.description, 10_000);
    out.description = milestone.description === "" ? null : milestone.description;
  }
  if (has("state")) {
    const creating = only === undefined;
    v.enumDefined("milestone.state", milestone.state, MilestoneStateSchema, { allowUnspecified: creating });
    const state =
      milestone.state === MilestoneState.UNSPECIFIED && creating ? MilestoneState.OPEN : milestone.state;
    const status = milestoneStateCodec.toDb(state);
    if (status !== undefined) out.status = status;
  }
  if (has("due_time")) out.dueAt = timestampField(v, "milestone.due_time", milestone.dueTime);
  if (has("release")) {
    out.releaseId =
      milestone.release === ""
        ? null
        : (v.resourceName("milestone.release", RELEASE_PATTERN, milestone.release) ?? null);
  }
  return out;
}

export function validateCreateMilestone(req: CreateMilestoneRequest): MilestoneFields {
  const v = validator();
  let fields: Partial<MilestoneFields> = {};
  if (v.required("milestone", req.milestone) && req.milestone) {
    fields = milestoneFields(v, req.milestone, undefined);
  }
  v.uuid("request_id", req.requestId);
  v.check();
  return fields as MilestoneFields;
}

export function validateUpdateMilestone(req: UpdateMilestoneRequest): {
  id: string;
  patch: Partial<MilestoneFields>;
  version: number | null;
} {
  const v = validator();
  let id: string | undefined;
  let patch: Partial<MilestoneFields> = {};
  let version: number | null = null;
  if (v.required("milestone", req.milestone) && req.milestone) {
    id = v.resourceName("milestone.name", MILESTONE_PATTERN, req.milestone.name);
    version = etagVersion(v, "milestone.etag", req.milestone.etag);
    const only = maskPaths(v, req.updateMask?.paths ?? [], UPDATABLE);
    if (!v.has("update_mask")) patch = milestoneFields(v, req.milestone, only);
  }
  v.check();
  return { id: id as string, patch, version };
}

export function validateMilestoneRef(name: string, etag = ""): { id: string; version: number | null } {
  const v = validator();
  const id = v.resourceName("name", MILESTONE_PATTERN, name);
  const version = etagVersion(v, "etag", etag);
  v.check();
  return { id: id as string, version };
}
