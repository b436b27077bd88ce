/** Request validation for the release RPCs (and timestamp/text helpers shared with milestones). */
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ReleaseFields } from "@taskmaster/persistence/release.repository";
import {
  type Release,
  ReleaseState,
  ReleaseStateSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/planning_pb";
import type {
  CreateReleaseRequest,
  UpdateReleaseRequest,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { type Validator, validator } from "@taskmaster/rpc-kit/validation";
import { etagVersion } from "./planning.validation.js";
import { releaseStateCodec } from "./release.mapper.js";
import { RELEASE_PATTERN } from "./task.names.js";

/** google.protobuf.Timestamp's valid range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z. */
const MIN_SECONDS = -62135596800n;
const MAX_SECONDS = 253402300799n;

/** A Timestamp as a Date (null when absent); records a violation when outside the valid range. */
export function timestampField(v: Validator, field: string, ts: Timestamp | undefined): Date | null {
  if (ts === undefined) return null;
  if (ts.seconds < MIN_SECONDS || ts.seconds > MAX_SECONDS || ts.nanos < 0 || ts.nanos > 999_999_999) {
    v.add(field, "must be a valid timestamp between years 1 and 9999", "OUT_OF_RANGE");
    return null;
  }
  return timestampDate(ts);
}

/** Free text: at most `max` characters, no NUL (PostgreSQL text cannot hold it). */
export function textField(v: Validator, field: string, value: string, max: number): void {
  v.maxLength(field, value, max);
  if (!v.has(field) && value.includes("\u0000")) {
    v.add(field, "must not contain NUL characters", "INVALID_CHARACTER");
  }
}

/** Parses `update_mask` paths against `updatable` ("*" = all); records violations on "update_mask". */
export function maskPaths<U extends string>(
  v: Validator,
  paths: readonly string[],
  updatable: readonly U[],
): Set<U> {
  const only = new Set<U>();
  if (paths.length === 0) v.add("update_mask", "is required", "REQUIRED");
  for (const p of paths) {
    if (p === "*") for (const u of updatable) only.add(u);
    else if ((updatable as readonly string[]).includes(p)) only.add(p as U);
    else v.add("update_mask", `"${p}" is not an updatable field (${updatable.join(", ")})`, "NOT_UPDATABLE");
  }
  return only;
}

const UPDATABLE = ["version", "description", "state", "target_time", "release_time"] as const;
type Updatable = (typeof UPDATABLE)[number];

function releaseFields(
  v: Validator,
  release: Release,
  only: ReadonlySet<Updatable> | undefined,
): Partial<ReleaseFields> {
  const has = (f: Updatable) => only === undefined || only.has(f);
  const out: Partial<ReleaseFields> = {};
  if (has("version")) {
    const label = release.version.trim();
    if (v.required("release.version", label)) textField(v, "release.version", label, 50);
    out.label = label;
  }
  if (has("description")) {
    textField(v, "release.description", release.description, 100_000);
    out.description = release.description === "" ? null : release.description;
  }
  if (has("state")) {
    const creating = only === undefined;
    v.enumDefined("release.state", release.state, ReleaseStateSchema, { allowUnspecified: creating });
    const state =
      release.state === ReleaseState.UNSPECIFIED && creating ? ReleaseState.PLANNED : release.state;
    const status = releaseStateCodec.toDb(state);
    if (status !== undefined) out.status = status;
  }
  if (has("target_time")) out.targetAt = timestampField(v, "release.target_time", release.targetTime);
  if (has("release_time")) {
    out.releasedAt = timestampField(v, "release.release_time", release.releaseTime);
    if (out.releasedAt !== null && out.status !== undefined && out.status !== "released") {
      v.add("release.release_time", "may only be set when state is RELEASED", "STATE_MISMATCH");
    }
  }
  return out;
}

export function validateCreateRelease(req: CreateReleaseRequest): ReleaseFields {
  const v = validator();
  let fields: Partial<ReleaseFields> = {};
  if (v.required("release", req.release) && req.release) fields = releaseFields(v, req.release, undefined);
  v.uuid("request_id", req.requestId);
  v.check();
  return fields as ReleaseFields;
}

export function validateUpdateRelease(req: UpdateReleaseRequest): {
  id: string;
  patch: Partial<ReleaseFields>;
  version: number | null;
} {
  const v = validator();
  let id: string | undefined;
  let patch: Partial<ReleaseFields> = {};
  let version: number | null = null;
  if (v.required("release", req.release) && req.release) {
    id = v.resourceName("release.name", RELEASE_PATTERN, req.release.name);
    version = etagVersion(v, "release.etag", req.release.etag);
    const only = maskPaths(v, req.updateMask?.paths ?? [], UPDATABLE);
    if (!v.has("update_mask")) patch = releaseFields(v, req.release, only);
  }
  v.check();
  return { id: id as string, patch, version };
}

export function validateReleaseRef(name: string, etag = ""): { id: string; version: number | null } {
  const v = validator();
  const id = v.resourceName("name", RELEASE_PATTERN, name);
  const version = etagVersion(v, "etag", etag);
  v.check();
  return { id: id as string, version };
}
