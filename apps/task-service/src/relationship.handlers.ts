/**
 * TaskService handlers for relationships: create/get/list/delete (each relationship is a pair of rows, see
 * relationship.repository.ts), the dependency graph around a task and the critical path of a scope.
 *
 * Symmetric types (RELATES_TO, CONFLICTS_WITH) are stored like the others as two rows, the mirror having
 * the same type; each row is a resource under its own source task, names the other in
 * `inverse_relationship`, and deleting either deletes both.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  CRITICAL_PATH_MAX_TASKS,
  type CriticalPathTask,
  type RelationshipListField,
  type RelationshipOrderField,
  RelationshipRepository,
} from "@taskmaster/persistence/relationship.repository";
import { CycleDetailSchema } from "@taskmaster/proto/gen/taskmaster/common/v1/errors_pb";
import {
  CriticalPathStepSchema,
  RelationshipTypeSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/relationship_pb";
import {
  CreateRelationshipResponseSchema,
  DeleteRelationshipResponseSchema,
  GetCriticalPathResponseSchema,
  GetDependencyGraphResponseSchema,
  GetRelationshipResponseSchema,
  ListRelationshipsResponseSchema,
  type TaskService,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { changeContext } from "@taskmaster/rpc-kit/call-context";
import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from "@taskmaster/rpc-kit/errors";
import { type ListSpec, listQueryOf } from "@taskmaster/rpc-kit/list-filter";
import {
  graphEdgeToMessage,
  graphNodeToMessage,
  relationshipName,
  relationshipToMessage,
  relationshipTypeCodec,
} from "./relationship.mapper.js";
import {
  validateCreateRelationship,
  validateCriticalPath,
  validateDependencyGraph,
  validateListRelationships,
  validateRelationshipName,
} from "./relationship.validation.js";
import { statusCodec } from "./task.mapper.js";
import { taskName } from "./task.names.js";

export interface RelationshipHandlerDeps {
  readonly orm: MikroORM;
}

/** FAILED_PRECONDITION carrying a `taskmaster.common.v1.CycleDetail` with the cycle's task names. */
export class RelationshipCycleError extends FailedPreconditionError {
  constructor(
    readonly path: readonly string[],
    readonly link: string,
  ) {
    super(`the relationship would create a cycle: ${path.join(" -> ")}`, {
      reason: "CYCLE_DETECTED",
      metadata: { link },
      violations: [{ type: "CYCLE", subject: path[0] ?? "", description: `cycle through ${link}` }],
    });
  }
  protected override extraDetails() {
    return [
      ...super.extraDetails(),
      { desc: CycleDetailSchema, value: { path: [...this.path], link: this.link } },
    ] as ReturnType<FailedPreconditionError["extraDetails"]>;
  }
}

const RELATIONSHIPS: ListSpec<RelationshipListField, RelationshipOrderField> = {
  fields: {
    type: { kind: "enum", desc: RelationshipTypeSchema, toDb: (n) => relationshipTypeCodec.toDb(n) },
    target_task: { kind: "name", pattern: "tasks/{task}", nullable: true },
    source_task: { kind: "name", pattern: "tasks/{task}", nullable: true },
    strength: { kind: "int" },
  },
  orderFields: ["create_time", "strength", "type"],
  defaultOrder: { field: "create_time", desc: false },
};

/** Hours counted for a task: remaining if set, else estimated minus actual (>= 0), else 0. */
function durationHours(t: CriticalPathTask): number {
  if (t.remainingHours !== null) return t.remainingHours;
  if (t.estimatedHours !== null) return Math.max(t.estimatedHours - t.actualHours, 0);
  return 0;
}

export function createRelationshipHandlers(
  deps: RelationshipHandlerDeps,
): Pick<
  ServiceImpl<typeof TaskService>,
  | "createRelationship"
  | "getRelationship"
  | "listRelationships"
  | "deleteRelationship"
  | "getDependencyGraph"
  | "getCriticalPath"
> {
  const repository = () => new RelationshipRepository(deps.orm.em.fork());

  return {
    async createRelationship(req, ctx) {
      const input = validateCreateRelationship(req);
      const result = await repository().create(input, {
        ...changeContext(ctx, req.requestId),
        validateOnly: req.validateOnly,
      });
      if (!result.ok) {
        switch (result.reason) {
          case "source_not_found":
            throw new NotFoundError("task", req.parent);
          case "target_not_found":
            throw new NotFoundError("task", req.relationship?.targetTask ?? "");
          case "already_exists":
            throw new AlreadyExistsError(
              "relationship",
              undefined,
              `a ${RelationshipTypeSchema.values.find((v) => v.number === req.relationship?.type)?.localName} relationship from ${req.parent} to ${req.relationship?.targetTask} already exists`,
            );
          case "cycle":
            throw new RelationshipCycleError(
              result.path.map(taskName),
              RelationshipTypeSchema.values.find((v) => v.number === req.relationship?.type)?.name ?? "",
            );
        }
      }
      return create(CreateRelationshipResponseSchema, {
        ...(result.row && { relationship: relationshipToMessage(result.row) }),
      });
    },

    async getRelationship(req) {
      const { taskId, relationshipId } = validateRelationshipName(req.name);
      const row = await repository().getById(taskId, relationshipId);
      if (row === null) throw new NotFoundError("relationship", req.name);
      return create(GetRelationshipResponseSchema, { relationship: relationshipToMessage(row) });
    },

    async listRelationships(req) {
      const { taskId, pageSize } = validateListRelationships(req);
      const page = await repository().list(
        taskId,
        listQueryOf(req, RELATIONSHIPS, {
          pageSize,
          binding: ["relationships", req.parent, req.filter, req.orderBy],
        }),
      );
      return create(ListRelationshipsResponseSchema, {
        relationships: page.items.map(relationshipToMessage),
        nextPageToken: page.nextPageToken ?? "",
      });
    },

    async deleteRelationship(req, ctx) {
      const { taskId, relationshipId } = validateRelationshipName(req.name);
      const deleted = await repository().delete(taskId, relationshipId, changeContext(ctx));
      if (!deleted) throw new NotFoundError("relationship", relationshipName(taskId, relationshipId));
      return create(DeleteRelationshipResponseSchema, {});
    },

    async getDependencyGraph(req) {
      const { taskId, types, maxDepth, maxNodes } = validateDependencyGraph(req);
      const repo = repository();
      if (!(await repo.taskExists(taskId))) throw new NotFoundError("task", req.task);
      if (types.length === 0) {
        // None of the requested types points in the requested direction: the root alone.
        const graph = await repo.dependencyGraph(taskId, ["relates_to"], 0, 1);
        return create(GetDependencyGraphResponseSchema, {
          nodes: graph.nodes.map(graphNodeToMessage),
          edges: [],
          truncated: false,
        });
      }
      const graph = await repo.dependencyGraph(taskId, types, maxDepth, maxNodes);
      return create(GetDependencyGraphResponseSchema, {
        nodes: graph.nodes.map(graphNodeToMessage),
        edges: graph.edges.map(graphEdgeToMessage),
        truncated: graph.truncated,
      });
    },

    async getCriticalPath(req) {
      const scope = validateCriticalPath(req);
      const repo = repository();
      if (!(await repo.scopeExists(scope))) {
        throw new NotFoundError(scope.kind === "epic" ? "task" : scope.kind, scope.name);
      }
      const graph = await repo.criticalPathGraph(scope, req.excludeDone);
      if (graph.tooLarge) {
        throw new FailedPreconditionError("the scope holds too many tasks for a critical path computation", {
          reason: "SIZE_LIMIT_EXCEEDED",
          metadata: { max: String(CRITICAL_PATH_MAX_TASKS) },
        });
      }
      // Longest path in a DAG: Kahn's topological order, earliest finish = max predecessor finish + duration.
      const byId = new Map(graph.tasks.map((t) => [t.id, t]));
      const successors = new Map<string, string[]>();
      const indegree = new Map<string, number>(graph.tasks.map((t) => [t.id, 0]));
      for (const [before, after] of graph.edges) {
        successors.set(before, [...(successors.get(before) ?? []), after]);
        indegree.set(after, (indegree.get(after) ?? 0) + 1);
      }
      const start = new Map<string, number>();
      const finish = new Map<string, number>();
      const via = new Map<string, string>();
      const queue = graph.tasks.filter((t) => indegree.get(t.id) === 0).map((t) => t.id);
      for (let i = 0; i < queue.length; i++) {
        const id = queue[i] as string;
        const s = start.get(id) ?? 0;
        const f = s + durationHours(byId.get(id) as CriticalPathTask);
        finish.set(id, f);
        for (const next of successors.get(id) ?? []) {
          if (f > (start.get(next) ?? -1)) {
            start.set(next, f);
            via.set(next, id);
          }
          const left = (indegree.get(next) ?? 1) - 1;
          indegree.set(next, left);
          if (left === 0) queue.push(next);
        }
      }
      let end: string | undefined;
      for (const id of queue) {
        // Ties go to the later task in topological order, so the path runs through to the sink.
        if (end === undefined || (finish.get(id) ?? 0) >= (finish.get(end) ?? 0)) end = id;
      }
      const path: string[] = [];
      for (let id = end; id !== undefined; id = via.get(id)) path.unshift(id);
      const steps = path.map((id) => {
        const t = byId.get(id) as CriticalPathTask;
        return create(CriticalPathStepSchema, {
          task: taskName(id),
          title: t.title,
          status: statusCodec.fromDb(t.status),
          durationHours: durationHours(t),
          earliestStartHours: start.get(id) ?? 0,
          earliestFinishHours: finish.get(id) ?? 0,
        });
      });
      return create(GetCriticalPathResponseSchema, {
        steps,
        totalHours: end === undefined ? 0 : (finish.get(end) ?? 0),
        unestimatedTasks: graph.tasks
          .filter((t) => t.remainingHours === null && t.estimatedHours === null)
          .map((t) => taskName(t.id)),
      });
    },
  };
}
