/** Request validation for the sprint RPCs. */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { SprintFields } from "@taskmaster/persistence/planning.repository";
import type { Sprint } from "@taskmaster/proto/gen/taskmaster/task/v1/planning_pb";
import type {
  AssignTasksToSprintRequest,
  CreateSprintRequest,
  UpdateSprintRequest,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { type Validator, validator } from "@taskmaster/rpc-kit/validation";
import { SPRINT_PATTERN, TASK_PATTERN } from "./task.names.js";

const ETAG = /^W\/"[0-9]{1,10}"$/;

/** Expected version from an etag (`W/"<version>"`), null when absent; records a violation when malformed. */
export function etagVersion(v: Validator, field: string, etag: string): number | null {
  if (etag === "") return null;
  if (!ETAG.test(etag)) {
    v.add(field, 'must be an etag from a previous response (W/"<n>")', "INVALID_ETAG");
    return null;
  }
  return Number(etag.slice(3, -1));
}

const UPDATABLE = ["display_name", "goal", "start_time", "end_time", "capacity_points"] as const;
type Updatable = (typeof UPDATABLE)[number];

function sprintFields(v: Validator, sprint: Sprint, only?: ReadonlySet<Updatable>): Partial<SprintFields> {
  const has = (f: Updatable) => only === undefined || only.has(f);
  const out: Partial<SprintFields> = {};
  if (has("display_name")) {
    if (v.required("sprint.display_name", sprint.displayName)) {
      v.length("sprint.display_name", sprint.displayName.trim(), 1, 100);
    }
    out.name = sprint.displayName.trim();
  }
  if (has("goal")) {
    v.maxLength("sprint.goal", sprint.goal, 2000);
    out.goal = sprint.goal === "" ? null : sprint.goal;
  }
  if (has("start_time")) {
    v.required("sprint.start_time", sprint.startTime);
    out.startsAt = sprint.startTime ? timestampDate(sprint.startTime) : null;
  }
  if (has("end_time")) {
    v.required("sprint.end_time", sprint.endTime);
    out.endsAt = sprint.endTime ? timestampDate(sprint.endTime) : null;
  }
  if (has("capacity_points")) {
    v.range("sprint.capacity_points", sprint.capacityPoints, 0, 10000);
    out.capacityPoints = sprint.capacityPoints ?? null;
  }
  return out;
}

function checkDates(v: Validator, start: Date | null | undefined, end: Date | null | undefined): void {
  if (start && end && !v.has("sprint.end_time") && end.getTime() <= start.getTime()) {
    v.add("sprint.end_time", "must be after start_time", "INVALID_RANGE");
  }
}

export function validateCreateSprint(req: CreateSprintRequest): SprintFields {
  const v = validator();
  let fields: Partial<SprintFields> = {};
  if (v.required("sprint", req.sprint) && req.sprint) {
    fields = sprintFields(v, req.sprint);
    checkDates(v, fields.startsAt, fields.endsAt);
  }
  v.uuid("request_id", req.requestId);
  v.check();
  return fields as SprintFields;
}

export function validateUpdateSprint(req: UpdateSprintRequest): {
  id: string;
  patch: Partial<SprintFields>;
  version: number | null;
  /** Dates to check against the stored values when only one side changes. */
} {
  const v = validator();
  let id: string | undefined;
  let patch: Partial<SprintFields> = {};
  let version: number | null = null;
  if (v.required("sprint", req.sprint) && req.sprint) {
    id = v.resourceName("sprint.name", SPRINT_PATTERN, req.sprint.name);
    version = etagVersion(v, "sprint.etag", req.sprint.etag);
    const paths = req.updateMask?.paths ?? [];
    if (paths.length === 0) v.add("update_mask", "is required", "REQUIRED");
    const only = new Set<Updatable>();
    for (const p of paths) {
      if (p === "*") for (const u of UPDATABLE) only.add(u);
      else if ((UPDATABLE as readonly string[]).includes(p)) only.add(p as Updatable);
      else
        v.add("update_mask", `"${p}" is not an updatable field (${UPDATABLE.join(", ")})`, "NOT_UPDATABLE");
    }
    if (!v.has("update_mask")) patch = sprintFields(v, req.sprint, only);
    checkDates(v, patch.startsAt, patch.endsAt);
  }
  v.check();
  return { id: id as string, patch, version };
}

export function validateSprintRef(
  field: string,
  name: string,
  etag = "",
): { id: string; version: number | null } {
  const v = validator();
  const id = v.resourceName(field, SPRINT_PATTERN, name);
  const version = etagVersion(v, "etag", etag);
  v.check();
  return { id: id as string, version };
}

export function validateAssignTasks(req: AssignTasksToSprintRequest): {
  sprintId: string | null;
  taskIds: string[];
} {
  const v = validator();
  const sprintId = req.sprint === "" ? null : (v.resourceName("sprint", SPRINT_PATTERN, req.sprint) ?? null);
  if (v.required("tasks", req.tasks)) {
    if (req.tasks.length > 1000)
      v.add("tasks", `must hold at most 1000 tasks (got ${req.tasks.length})`, "TOO_MANY");
  }
  const ids: string[] = [];
  const seen = new Set<string>();
  req.tasks.slice(0, 1000).forEach((name, i) => {
    const id = v.resourceName(`tasks[${i}]`, TASK_PATTERN, name);
    if (id === undefined) return;
    if (seen.has(id)) v.add(`tasks[${i}]`, "is listed twice", "DUPLICATE");
    seen.add(id);
    ids.push(id);
  });
  v.check();
  return { sprintId, taskIds: ids };
}
