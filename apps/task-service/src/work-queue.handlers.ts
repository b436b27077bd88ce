/**
 * TaskService agent work queue: NextTask, ClaimNextTask, RenewTaskClaim, ReleaseTaskClaim. Expired leases
 * are returned to the pool (claim cleared, IN_PROGRESS back to READY, with history and events) before
 * every selection.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import type { TaskRow } from "@taskmaster/persistence/task.repository";
import type { TaskStatus } from "@taskmaster/persistence/value-sets";
import {
  ClaimNotHeldError,
  ClaimTaskNotFoundError,
  IllegalReleaseTransitionError,
  WorkQueueRepository,
} from "@taskmaster/persistence/work-queue.repository";
import { type Task, TaskClaimSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import {
  ClaimNextTaskResponseSchema,
  NextTaskResponseSchema,
  ReleaseTaskClaimResponseSchema,
  RenewTaskClaimResponseSchema,
  type TaskService,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { actor } from "@taskmaster/rpc-kit/call-context";
import { FailedPreconditionError, NotFoundError } from "@taskmaster/rpc-kit/errors";
import { validator } from "@taskmaster/rpc-kit/validation";
import { resolveStatusTransitions, type StatusTransitionTable } from "./status-transitions.js";
import { taskToMessage } from "./task.mapper.js";
import { leaseSeconds, releaseStatus, selectorInput, validateClaimRef } from "./work-queue.validation.js";

export interface WorkQueueHandlerDeps {
  readonly orm: MikroORM;
  /** Same override the workflow slice uses (transitions on release, "done" statuses for blockers). */
  readonly statusTransitions?: StatusTransitionTable | string | undefined;
}

/** Claimant recorded for callers without an identity header (direct internal calls). */
const ANONYMOUS = "anonymous";
const claimant = (ctx: HandlerContext) => actor(ctx) ?? ANONYMOUS;

function claimedTask(row: TaskRow, claimId: string, done: readonly TaskStatus[]): Task {
  const task = taskToMessage(row, done);
  if (row.claimedBy !== null && row.claimedAt !== null && row.leaseExpiresAt !== null) {
    task.claim = create(TaskClaimSchema, {
      claimId,
      claimant: row.claimedBy,
      claimTime: timestampFromDate(row.claimedAt),
      leaseExpireTime: timestampFromDate(row.leaseExpiresAt),
    });
  }
  return task;
}

function claimError(error: unknown, name: string): unknown {
  if (error instanceof ClaimTaskNotFoundError) return new NotFoundError("task", name);
  if (error instanceof ClaimNotHeldError) {
    return new FailedPreconditionError(
      error.reason === "CLAIM_EXPIRED" ? "the claim has expired" : "the claim is not held by the caller",
      { reason: "CLAIM_NOT_HELD", metadata: { task: name } },
    );
  }
  if (error instanceof IllegalReleaseTransitionError) {
    return new FailedPreconditionError(`status transition ${error.from} -> ${error.to} is not allowed`, {
      reason: "ILLEGAL_STATUS_TRANSITION",
      metadata: { task: name, from: error.from, to: error.to },
    });
  }
  return error;
}

export function createWorkQueueHandlers(
  deps: WorkQueueHandlerDeps,
): Pick<
  ServiceImpl<typeof TaskService>,
  "nextTask" | "claimNextTask" | "renewTaskClaim" | "releaseTaskClaim"
> {
  const table = resolveStatusTransitions(deps.statusTransitions);
  const toMessage = (row: TaskRow) => taskToMessage(row, table.done);
  const repository = () => new WorkQueueRepository(deps.orm.em.fork());

  return {
    async nextTask(req) {
      const sel = selectorInput(req.selector, table.done);
      const repo = repository();
      await repo.expireLeases();
      const { task, candidates } = await repo.next(sel);
      return create(NextTaskResponseSchema, {
        ...(task !== null && { task: toMessage(task) }),
        candidateCount: candidates,
      });
    },

    async claimNextTask(req, ctx) {
      let lease = 0;
      const sel = selectorInput(req.selector, table.done, (v) => {
        lease = leaseSeconds(v, "lease_duration", req.leaseDuration);
        v.uuid("request_id", req.requestId);
      });
      const repo = repository();
      await repo.expireLeases();
      const claimed = await repo.claim(sel, claimant(ctx), lease, req.start, req.requestId || null);
      return create(
        ClaimNextTaskResponseSchema,
        claimed === null ? {} : { task: claimedTask(claimed.task, claimed.claimId, table.done) },
      );
    },

    async renewTaskClaim(req, ctx) {
      let lease = 0;
      const { taskId, claimId } = validateClaimRef(req, (v) => {
        lease = leaseSeconds(v, "lease_duration", req.leaseDuration);
      });
      try {
        const renewed = await repository().renew(taskId, claimId, claimant(ctx), lease);
        return create(RenewTaskClaimResponseSchema, {
          claim: claimedTask(renewed.task, renewed.claimId, table.done).claim,
        });
      } catch (error) {
        throw claimError(error, req.name);
      }
    },

    async releaseTaskClaim(req, ctx) {
      let status: ReturnType<typeof releaseStatus> = null;
      const { taskId, claimId } = validateClaimRef(req, (v) => {
        status = releaseStatus(v, req.status);
        v.maxLength("reason", req.reason, 2000);
      });
      const reasonCheck = validator();
      if (req.reason.includes("\0"))
        reasonCheck.add("reason", "must not contain NUL characters", "INVALID_CHARACTER");
      reasonCheck.check();
      try {
        const row = await repository().release(
          taskId,
          claimId,
          claimant(ctx),
          status,
          req.reason === "" ? null : req.reason,
          (from, to) => table.transitions[from]?.includes(to) ?? false,
        );
        return create(ReleaseTaskClaimResponseSchema, { task: toMessage(row) });
      } catch (error) {
        throw claimError(error, req.name);
      }
    },
  };
}
