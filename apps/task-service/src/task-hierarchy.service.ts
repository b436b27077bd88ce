/**
 * The task hierarchy's domain rules: which type may sit under which, how deep the tree may grow, and how a
 * new task's parent and epic are resolved (the epic derived from the nearest EPIC ancestor when unset).
 * CreateTask, BatchCreateTasks and UpdateTask check them here; MoveTask hands them to the repository,
 * which checks them inside its transaction (under the hierarchy lock). The SQL lives in the repository.
 */
import type { HierarchyRules, TaskRepository } from "@taskmaster/persistence/task.repository";
import type { TaskType } from "@taskmaster/persistence/value-sets";
import {
  FailedPreconditionError,
  type FieldViolation,
  InvalidArgumentError,
} from "@taskmaster/rpc-kit/errors";
import type { TaskRefs } from "./task.validation.js";

/** Deepest allowed position in the hierarchy: a task has at most this many ancestors. */
export const MAX_TASK_DEPTH = 10;

/**
 * The type rules of the hierarchy (TaskType in task.proto): an EPIC's parent may only be an EPIC; a STORY
 * belongs under an EPIC; any other type may sit under an epic, a story or another non-epic task.
 * Returns a description of the violation, or null.
 */
export function hierarchyViolation(childType: TaskType, parentType: TaskType): string | null {
  if (childType === "epic" && parentType !== "epic") return "an epic can only be placed under another epic";
  if (childType === "story" && parentType !== "epic") return "a story can only be placed under an epic";
  return null;
}

/** The rules as the repository's move checks them. */
export const TASK_HIERARCHY_RULES: HierarchyRules = {
  violation: hierarchyViolation,
  maxDepth: MAX_TASK_DEPTH,
};

/** A live task referenced as parent/epic, with what the hierarchy rules need. */
export interface RefInfo {
  id: string;
  type: TaskType;
  depth: number;
  nearestEpic: string | null;
}

/** The live task `id` as a parent/epic reference; null when absent. */
export async function liveRef(repo: TaskRepository, id: string): Promise<RefInfo | null> {
  const row = await repo.getById(id);
  if (row === null) return null;
  return {
    id,
    type: row.type,
    depth: await repo.depthOf(id),
    nearestEpic: row.type === "epic" ? id : await repo.nearestEpic(id),
  };
}

/**
 * Resolves parent/epic of a task being created (shared by CreateTask and BatchCreateTasks): both must exist,
 * the epic must be an EPIC, an unset epic is derived from the nearest EPIC ancestor, and the type and depth
 * rules of the hierarchy apply. `lookup` resolves a reference (e.g. to an earlier item of a batch).
 */
export async function resolveRefs(
  prefix: string,
  type: TaskType,
  refs: TaskRefs,
  lookup: (id: string) => Promise<RefInfo | null>,
): Promise<{ refs: TaskRefs; parent: RefInfo | null }> {
  const violations: FieldViolation[] = [];
  const parent = refs.parentId === null ? null : await lookup(refs.parentId);
  if (refs.parentId !== null && parent === null) {
    violations.push({
      field: `${prefix}.parent`,
      description: `task "tasks/${refs.parentId}" does not exist`,
      reason: "NOT_FOUND",
    });
  }
  let epicId = refs.epicId;
  if (epicId !== null) {
    const epic = await lookup(epicId);
    if (epic === null) {
      violations.push({
        field: `${prefix}.epic`,
        description: `task "tasks/${epicId}" does not exist`,
        reason: "NOT_FOUND",
      });
    } else if (epic.type !== "epic") {
      violations.push({
        field: `${prefix}.epic`,
        description: "must name a task of type TASK_TYPE_EPIC",
        reason: "NOT_AN_EPIC",
      });
    }
  }
  if (violations.length > 0) throw new InvalidArgumentError(violations);
  if (parent !== null) {
    const rule = hierarchyViolation(type, parent.type);
    if (rule !== null) throw new FailedPreconditionError(rule, { reason: "HIERARCHY_VIOLATION" });
    if (parent.depth + 1 > MAX_TASK_DEPTH) {
      throw new FailedPreconditionError(`a task can have at most ${MAX_TASK_DEPTH} ancestors`, {
        reason: "HIERARCHY_VIOLATION",
      });
    }
    if (epicId === null) epicId = parent.nearestEpic;
  }
  return { refs: { ...refs, epicId }, parent };
}

/**
 * A type change of a task must keep the hierarchy rules with its parent and its children; `false` when the
 * task does not exist.
 */
export async function checkTypeChange(repo: TaskRepository, id: string, type: TaskType): Promise<boolean> {
  const current = await repo.getById(id);
  if (current === null) return false;
  const parent = current.parentId === null ? null : await repo.getById(current.parentId);
  const rules = [
    parent === null ? null : hierarchyViolation(type, parent.type),
    ...(await repo.childTypes(id)).map((child) => hierarchyViolation(child, type)),
  ].filter((rule) => rule !== null);
  if (rules[0] !== undefined) throw new FailedPreconditionError(rules[0], { reason: "HIERARCHY_VIOLATION" });
  return true;
}
