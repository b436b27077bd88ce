/** Request validation for the relationship RPCs: every violation collected, one INVALID_ARGUMENT. */
import type { RelationshipType as DbRelationshipType } from "@taskmaster/persistence/value-sets";
import { RelationshipTypeSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/relationship_pb";
import {
  type CreateRelationshipRequest,
  type GetCriticalPathRequest,
  type GetDependencyGraphRequest,
  GraphDirection,
  GraphDirectionSchema,
  type ListRelationshipsRequest,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { parseResourceName, type Validator, validator } from "@taskmaster/rpc-kit/validation";
import { relationshipTypeCodec } from "./relationship.mapper.js";
import { RELEASE_PATTERN, SPRINT_PATTERN, TASK_PATTERN } from "./task.names.js";

export const RELATIONSHIP_PATTERN = "tasks/{task}/relationships/{relationship}";

/** Parses "tasks/{task}/relationships/{relationship}" into both ids (recording a violation when malformed). */
export function relationshipIds(
  v: Validator,
  field: string,
  name: string,
): { taskId: string; relationshipId: string } | undefined {
  if (!v.required(field, name)) return undefined;
  const parsed = parseResourceName(RELATIONSHIP_PATTERN, name);
  if (!parsed.ok) {
    v.add(field, parsed.description, "INVALID_RESOURCE_NAME");
    return undefined;
  }
  return { taskId: parsed.ids.task as string, relationshipId: parsed.ids.relationship as string };
}

export function validateRelationshipName(name: string): { taskId: string; relationshipId: string } {
  const v = validator();
  const ids = relationshipIds(v, "name", name);
  v.check();
  return ids as { taskId: string; relationshipId: string };
}

export interface ValidCreateRelationship {
  sourceTaskId: string;
  targetTaskId: string;
  type: DbRelationshipType;
  strength: number;
  note: string | null;
}

export function validateCreateRelationship(req: CreateRelationshipRequest): ValidCreateRelationship {
  const v = validator();
  const sourceTaskId = v.resourceName("parent", TASK_PATTERN, req.parent);
  const rel = req.relationship;
  let targetTaskId: string | undefined;
  if (v.required("relationship", rel) && rel) {
    targetTaskId = v.resourceName("relationship.target_task", TASK_PATTERN, rel.targetTask);
    v.required("relationship.type", rel.type === 0 ? undefined : rel.type);
    v.enumDefined("relationship.type", rel.type, RelationshipTypeSchema);
    v.range("relationship.strength", rel.strength, 1, 10);
    v.maxLength("relationship.note", rel.note, 2000);
    if (sourceTaskId !== undefined && targetTaskId !== undefined && sourceTaskId === targetTaskId) {
      v.add("relationship.target_task", "must differ from the source task (parent)", "SELF_RELATION");
    }
  }
  v.uuid("request_id", req.requestId);
  v.check();
  const r = rel as NonNullable<typeof rel>;
  return {
    sourceTaskId: sourceTaskId as string,
    targetTaskId: targetTaskId as string,
    type: relationshipTypeCodec.toDb(r.type) as DbRelationshipType,
    strength: r.strength ?? 5,
    note: r.note.trim() === "" ? null : r.note,
  };
}

export function validateListRelationships(req: ListRelationshipsRequest): {
  taskId: string | null;
  pageSize: number;
} {
  const v = validator();
  const pageSize = v.pageSize("page_size", req.pageSize);
  let taskId: string | null = null;
  if (req.parent !== "tasks/-") taskId = v.resourceName("parent", TASK_PATTERN, req.parent) ?? null;
  v.maxLength("page_token", req.pageToken, 1000);
  v.check();
  return { taskId, pageSize };
}

/** Types a traversal may follow in each direction (symmetric ones both ways). */
const UPSTREAM: readonly DbRelationshipType[] = [
  "blocked_by",
  "depends_on",
  "follows",
  "child_of",
  "duplicates",
  "relates_to",
  "conflicts_with",
];
const DOWNSTREAM: readonly DbRelationshipType[] = [
  "blocks",
  "dependency_of",
  "precedes",
  "parent_of",
  "duplicated_by",
  "relates_to",
  "conflicts_with",
];
const DEFAULT_GRAPH_TYPES: readonly DbRelationshipType[] = [
  "blocks",
  "blocked_by",
  "depends_on",
  "dependency_of",
];

export function validateDependencyGraph(req: GetDependencyGraphRequest): {
  taskId: string;
  types: DbRelationshipType[];
  maxDepth: number;
  maxNodes: number;
} {
  const v = validator();
  const taskId = v.resourceName("task", TASK_PATTERN, req.task);
  v.range("max_depth", req.maxDepth, 0, 10);
  v.range("max_nodes", req.maxNodes, 0, 5000);
  v.enumDefined("direction", req.direction, GraphDirectionSchema, { allowUnspecified: true });
  req.types.forEach((t, i) => {
    v.enumDefined(`types[${i}]`, t, RelationshipTypeSchema);
  });
  v.check();
  const requested = req.types.length
    ? req.types.map((t) => relationshipTypeCodec.toDb(t) as DbRelationshipType)
    : DEFAULT_GRAPH_TYPES;
  const allowed =
    req.direction === GraphDirection.UPSTREAM
      ? UPSTREAM
      : req.direction === GraphDirection.DOWNSTREAM
        ? DOWNSTREAM
        : [...new Set([...UPSTREAM, ...DOWNSTREAM])];
  return {
    taskId: taskId as string,
    types: [...new Set(requested)].filter((t) => allowed.includes(t)),
    maxDepth: req.maxDepth === 0 ? 3 : req.maxDepth,
    maxNodes: req.maxNodes === 0 ? 1000 : req.maxNodes,
  };
}

export type ValidCriticalPathScope =
  | { kind: "task"; id: string; name: string }
  | { kind: "epic"; id: string; name: string }
  | { kind: "sprint"; id: string; name: string }
  | { kind: "release"; id: string; name: string };

export function validateCriticalPath(req: GetCriticalPathRequest): ValidCriticalPathScope {
  const v = validator();
  const scope = req.scope;
  if (scope.case === undefined) {
    v.add("scope", "exactly one of task, sprint, release or epic must be set", "REQUIRED");
    v.check();
  }
  const pattern = {
    task: TASK_PATTERN,
    epic: TASK_PATTERN,
    sprint: SPRINT_PATTERN,
    release: RELEASE_PATTERN,
  }[scope.case as "task"];
  const id = v.resourceName(scope.case as string, pattern, scope.value as string);
  v.check();
  return { kind: scope.case as "task", id: id as string, name: scope.value as string };
}
