/** Relationship rows -> `taskmaster.task.v1.Relationship` and dependency-graph messages. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type {
  GraphEdgeRow,
  GraphNodeRow,
  RelationshipRow,
} from "@taskmaster/persistence/relationship.repository";
import type { RelationshipType as DbRelationshipType } from "@taskmaster/persistence/value-sets";
import {
  type DependencyGraphEdge,
  DependencyGraphEdgeSchema,
  type DependencyGraphNode,
  DependencyGraphNodeSchema,
  type Relationship,
  RelationshipSchema,
  type RelationshipType,
  RelationshipTypeSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/relationship_pb";
import { enumCodec } from "@taskmaster/rpc-kit/enum-codec";
import { priorityCodec, statusCodec } from "./task.mapper.js";
import { taskName } from "./task.names.js";

export const relationshipTypeCodec = enumCodec<RelationshipType, DbRelationshipType>(RelationshipTypeSchema);

export function relationshipName(sourceTaskId: string, id: string): string {
  return `${taskName(sourceTaskId)}/relationships/${id}`;
}

export function relationshipToMessage(row: RelationshipRow): Relationship {
  return create(RelationshipSchema, {
    name: relationshipName(row.sourceTaskId, row.id),
    uid: row.id,
    sourceTask: taskName(row.sourceTaskId),
    targetTask: taskName(row.targetTaskId),
    type: relationshipTypeCodec.fromDb(row.type),
    strength: row.strength,
    note: row.note ?? "",
    inverseRelationship: row.inverseId === null ? "" : relationshipName(row.targetTaskId, row.inverseId),
    creator: row.createdBy ?? "",
    createTime: timestampFromDate(row.createdAt),
  });
}

export function graphNodeToMessage(row: GraphNodeRow): DependencyGraphNode {
  return create(DependencyGraphNodeSchema, {
    task: taskName(row.id),
    title: row.title,
    status: statusCodec.fromDb(row.status),
    priority: priorityCodec.fromDb(row.priority),
    estimatedHours: row.estimatedHours ?? undefined,
    remainingHours: row.remainingHours ?? undefined,
    depth: row.depth,
  });
}

export function graphEdgeToMessage(row: GraphEdgeRow): DependencyGraphEdge {
  return create(DependencyGraphEdgeSchema, {
    sourceTask: taskName(row.sourceTaskId),
    targetTask: taskName(row.targetTaskId),
    type: relationshipTypeCodec.fromDb(row.type),
    strength: row.strength,
    relationship: relationshipName(row.sourceTaskId, row.id),
  });
}
