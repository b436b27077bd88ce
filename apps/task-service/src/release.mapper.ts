/** Release rows -> `taskmaster.task.v1.Release` messages. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ReleaseRow } from "@taskmaster/persistence/release.repository";
import type { ReleaseStatus } from "@taskmaster/persistence/value-sets";
import {
  type Release,
  ReleaseSchema,
  type ReleaseState,
  ReleaseStateSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/planning_pb";
import { enumCodec } from "@taskmaster/rpc-kit/enum-codec";
import { planningEtag } from "./planning.mapper.js";

export const releaseStateCodec = enumCodec<ReleaseState, ReleaseStatus>(ReleaseStateSchema);

export function releaseName(id: string): string {
  return `releases/${id}`;
}

export function releaseToMessage(row: ReleaseRow): Release {
  return create(ReleaseSchema, {
    name: releaseName(row.id),
    uid: row.id,
    version: row.label,
    description: row.description ?? "",
    state: releaseStateCodec.fromDb(row.status),
    targetTime: row.targetAt ? timestampFromDate(row.targetAt) : undefined,
    releaseTime: row.releasedAt ? timestampFromDate(row.releasedAt) : undefined,
    taskCount: row.taskCount,
    completedTaskCount: row.completedTaskCount,
    createTime: timestampFromDate(row.createdAt),
    updateTime: timestampFromDate(row.updatedAt),
    etag: planningEtag(row.version),
  });
}
