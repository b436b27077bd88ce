/** Sprint rows -> `taskmaster.task.v1.Sprint` messages. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { SprintRow } from "@taskmaster/persistence/planning.repository";
import type { SprintStatus } from "@taskmaster/persistence/value-sets";
import {
  type Sprint,
  SprintSchema,
  type SprintState,
  SprintStateSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/planning_pb";
import { enumCodec } from "@taskmaster/rpc-kit/enum-codec";

export const sprintStateCodec = enumCodec<SprintState, SprintStatus>(SprintStateSchema);

export function sprintName(id: string): string {
  return `sprints/${id}`;
}

/** AIP-154 etag of a planning resource. */
export function planningEtag(version: number): string {
  return `W/"${version}"`;
}

export function sprintToMessage(row: SprintRow): Sprint {
  return create(SprintSchema, {
    name: sprintName(row.id),
    uid: row.id,
    displayName: row.name,
    goal: row.goal ?? "",
    state: sprintStateCodec.fromDb(row.status),
    startTime: row.startsAt ? timestampFromDate(row.startsAt) : undefined,
    endTime: row.endsAt ? timestampFromDate(row.endsAt) : undefined,
    capacityPoints: row.capacityPoints ?? undefined,
    plannedPoints: row.plannedPoints,
    completedPoints: row.completedPoints,
    taskCount: row.taskCount,
    closeTime: row.closedAt ? timestampFromDate(row.closedAt) : undefined,
    createTime: timestampFromDate(row.createdAt),
    updateTime: timestampFromDate(row.updatedAt),
    etag: planningEtag(row.version),
  });
}
