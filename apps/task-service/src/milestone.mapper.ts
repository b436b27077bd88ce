/** Milestone rows -> `taskmaster.task.v1.Milestone` messages. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MilestoneRow } from "@taskmaster/persistence/milestone.repository";
import type { MilestoneStatus } from "@taskmaster/persistence/value-sets";
import {
  type Milestone,
  MilestoneSchema,
  type MilestoneState,
  MilestoneStateSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/planning_pb";
import { enumCodec } from "@taskmaster/rpc-kit/enum-codec";
import { planningEtag } from "./planning.mapper.js";
import { releaseName } from "./release.mapper.js";

export const milestoneStateCodec = enumCodec<MilestoneState, MilestoneStatus>(MilestoneStateSchema);

export function milestoneName(id: string): string {
  return `milestones/${id}`;
}

export function milestoneToMessage(row: MilestoneRow): Milestone {
  return create(MilestoneSchema, {
    name: milestoneName(row.id),
    uid: row.id,
    displayName: row.name,
    description: row.description ?? "",
    state: milestoneStateCodec.fromDb(row.status),
    dueTime: row.dueAt ? timestampFromDate(row.dueAt) : undefined,
    release: row.releaseId ? releaseName(row.releaseId) : "",
    taskCount: row.taskCount,
    completedTaskCount: row.completedTaskCount,
    createTime: timestampFromDate(row.createdAt),
    updateTime: timestampFromDate(row.updatedAt),
    etag: planningEtag(row.version),
  });
}
