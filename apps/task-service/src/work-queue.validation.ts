/** Validation for NextTask / ClaimNextTask / RenewTaskClaim / ReleaseTaskClaim. */
import type { Duration } from "@bufbuild/protobuf/wkt";
import type { TaskStatus as DbStatus, TaskType as DbType } from "@taskmaster/persistence/value-sets";
import type { WorkSelectorInput } from "@taskmaster/persistence/work-queue.repository";
import { TaskStatusSchema, TaskTypeSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import type {
  ReleaseTaskClaimRequest,
  RenewTaskClaimRequest,
  WorkSelector,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { type Validator, validator } from "@taskmaster/rpc-kit/validation";
import { compileTaskFilter } from "./search.validation.js";
import { statusCodec, typeCodec } from "./task.mapper.js";
import { SPRINT_PATTERN, TASK_PATTERN } from "./task.names.js";

export const DEFAULT_LEASE_SECONDS = 15 * 60;
const MIN_LEASE = 10;
const MAX_LEASE = 24 * 60 * 60;

export function leaseSeconds(v: Validator, field: string, d: Duration | undefined): number {
  if (d === undefined) return DEFAULT_LEASE_SECONDS;
  const seconds = Number(d.seconds) + d.nanos / 1e9;
  if (!Number.isFinite(seconds) || seconds < MIN_LEASE || seconds > MAX_LEASE) {
    v.add(field, `must be between ${MIN_LEASE} s and 24 h (got ${seconds} s)`, "OUT_OF_RANGE");
  }
  return seconds;
}

export function validateSelector(
  v: Validator,
  sel: WorkSelector | undefined,
  done: readonly DbStatus[],
): Omit<WorkSelectorInput, "filter"> & { filterText: string } {
  const s = "selector";
  const assigned = sel?.assignedTo ?? "";
  v.maxLength(`${s}.assigned_to`, assigned, 320);
  let sprintId: string | null = null;
  if (sel !== undefined && sel.sprint !== "") {
    sprintId = v.resourceName(`${s}.sprint`, SPRINT_PATTERN, sel.sprint) ?? null;
  }
  for (const [field, list] of [
    ["tags", sel?.tags ?? []],
    ["labels", sel?.labels ?? []],
  ] as const) {
    if (list.length > 50) v.add(`${s}.${field}`, "must have at most 50 items", "TOO_MANY_ITEMS");
    for (const [i, item] of list.entries()) {
      v.length(`${s}.${field}[${i}]`, item, 1, 64);
      if (item.includes("\0"))
        v.add(`${s}.${field}[${i}]`, "must not contain NUL characters", "INVALID_CHARACTER");
    }
  }
  const types: DbType[] = [];
  for (const [i, t] of (sel?.types ?? []).entries()) {
    v.enumDefined(`${s}.types[${i}]`, t, TaskTypeSchema);
    const db = typeCodec.toDb(t);
    if (db !== undefined) types.push(db);
  }
  return {
    assignedTo: assigned === "" ? null : assigned,
    sprintId,
    tags: [...(sel?.tags ?? [])],
    labels: [...(sel?.labels ?? [])],
    types,
    statuses: ["ready", "pending"],
    done: [...done],
    filterText: sel?.filter ?? "",
  };
}

export function selectorInput(
  sel: WorkSelector | undefined,
  done: readonly DbStatus[],
  extra?: (v: Validator) => void,
): WorkSelectorInput {
  const v = validator();
  const { filterText, ...rest } = validateSelector(v, sel, done);
  extra?.(v);
  v.check();
  return { ...rest, filter: compileTaskFilter("selector.filter", filterText) };
}

export function validateClaimRef(
  req: RenewTaskClaimRequest | ReleaseTaskClaimRequest,
  extra?: (v: Validator) => void,
): { taskId: string; claimId: string } {
  const v = validator();
  const taskId = v.resourceName("name", TASK_PATTERN, req.name);
  if (v.required("claim_id", req.claimId)) v.uuid("claim_id", req.claimId);
  extra?.(v);
  v.check();
  return { taskId: taskId as string, claimId: req.claimId.toLowerCase() };
}

export function releaseStatus(v: Validator, status: number): DbStatus | null {
  if (status === 0) return null;
  v.enumDefined("status", status, TaskStatusSchema);
  return statusCodec.toDb(status) ?? null;
}
