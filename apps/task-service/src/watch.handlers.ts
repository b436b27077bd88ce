/**
 * TaskService WatchTasks: change events from the transactional outbox.
 *
 * One LISTEN connection per server (opened with the first watcher, closed with the last) only wakes the
 * streams; every stream reads `outbox_events` by id after its position (the resume token), so a reconnect
 * with the last token replays exactly what was missed, in order. Ids are allocated before commit, so an
 * id can become visible after a higher one: a stream never skips a missing id until every transaction
 * that was in progress when the gap was seen has finished (then the id was rolled back and is gone).
 */

import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { OutboxListener, OutboxRepository } from "@taskmaster/persistence/outbox.repository";
import { HeartbeatSchema } from "@taskmaster/proto/gen/taskmaster/common/v1/change_pb";
import { type TaskEventKind, TaskEventKindSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/event_pb";
import {
  type TaskService,
  type WatchTasksRequest,
  type WatchTasksResponse,
  WatchTasksResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { OutOfRangeError } from "@taskmaster/rpc-kit/errors";
import { validator } from "@taskmaster/rpc-kit/validation";
import type { Logger } from "@taskmaster/telemetry/logger";
import { compileTaskFilter } from "./search.validation.js";
import { resolveStatusTransitions, type StatusTransitionTable } from "./status-transitions.js";
import { TASK_PATTERN } from "./task.names.js";
import { eventToMessage, KIND_BY_DB } from "./watch.mapper.js";

export interface WatchHandlerDeps {
  readonly orm: MikroORM;
  readonly logger: Logger;
  /** Status table override (its "done" set decides which blockers are open); default env, else built-in. */
  readonly statusTransitions?: StatusTransitionTable | string | undefined;
}

const BATCH = 500;
/** A gap younger than this is never skipped (covers the instant between nextval and the xid assignment). */
const GAP_MIN_AGE_MS = 250;
const GAP_POLL_MS = 50;

function validateWatch(req: WatchTasksRequest) {
  const v = validator();
  for (const [i, k] of req.kinds.entries()) v.enumDefined(`kinds[${i}]`, k, TaskEventKindSchema);
  if (req.tasks.length > 1000) v.add("tasks", "must have at most 1000 items", "TOO_MANY_ITEMS");
  const tasks = new Set<string>();
  for (const [i, name] of req.tasks.entries()) {
    const id = v.resourceName(`tasks[${i}]`, TASK_PATTERN, name);
    if (id !== undefined) tasks.add(id);
  }
  if (req.resumeToken !== "" && !/^[0-9]{1,18}$/.test(req.resumeToken)) {
    v.add("resume_token", "is not a token from a WatchTasks event", "INVALID_RESUME_TOKEN");
  }
  let heartbeatMs = 30_000;
  if (req.heartbeatInterval !== undefined) {
    const s = Number(req.heartbeatInterval.seconds) + req.heartbeatInterval.nanos / 1e9;
    if (!(s >= 5 && s <= 60))
      v.add("heartbeat_interval", `must be between 5 s and 60 s (got ${s} s)`, "OUT_OF_RANGE");
    heartbeatMs = s * 1000;
  }
  v.check();
  return {
    kinds: new Set<TaskEventKind>(req.kinds),
    tasks,
    heartbeatMs,
    resumeToken: req.resumeToken === "" ? null : req.resumeToken,
    filter: compileTaskFilter("filter", req.filter),
  };
}

export function createWatchHandlers(
  deps: WatchHandlerDeps,
): Pick<ServiceImpl<typeof TaskService>, "watchTasks"> {
  const done = resolveStatusTransitions(deps.statusTransitions).done;
  const listener = new OutboxListener(deps.orm, (err) =>
    deps.logger.warn({ err }, "outbox LISTEN connection failed"),
  );

  return {
    async *watchTasks(req, ctx): AsyncGenerator<WatchTasksResponse> {
      const w = validateWatch(req);
      const signal = ctx.signal;
      let dirty = true;
      let wake: (() => void) | undefined;
      const notify = () => {
        dirty = true;
        wake?.();
      };
      const unsubscribe = await listener.subscribe(notify);
      signal.addEventListener("abort", notify, { once: true });
      try {
        const repo = () => new OutboxRepository(deps.orm.em.fork());
        let last: bigint;
        if (w.resumeToken !== null) {
          last = BigInt(w.resumeToken);
          // Expired iff an event after the token was pruned: retention records the highest id it deleted.
          const pruned = BigInt(await repo().prunedThrough());
          if (last < pruned) {
            throw new OutOfRangeError(
              "resume_token is older than the oldest kept event; re-read the tasks and watch without a token",
              "RESUME_TOKEN_EXPIRED",
              { resumeToken: w.resumeToken, oldestKeptToken: String(pruned) },
            );
          }
        } else {
          last = BigInt(await repo().latestId());
        }
        let gap: { at: bigint; xids: string[]; since: number; cleared: boolean } | null = null;
        let lastSent = Date.now();

        while (!signal.aborted) {
          dirty = false;
          const batch = await repo().readAfter(last.toString(), BATCH, w.filter);
          let blocked = false;
          for (const row of batch.rows) {
            const id = BigInt(row.id);
            if (id !== last + 1n) {
              const at = last + 1n;
              if (gap === null || gap.at !== at)
                gap = { at, xids: batch.inFlight, since: Date.now(), cleared: false };
              if (!gap.cleared) {
                blocked = true;
                break;
              }
              // Every transaction that could have held the missing ids has finished and they are still
              // missing: they were rolled back.
            }
            gap = null;
            last = id;
            if (row.aggregateType !== "task") continue;
            const kind = KIND_BY_DB[row.kind];
            if (kind === undefined) continue;
            if (w.kinds.size > 0 && !w.kinds.has(kind)) continue;
            if (w.tasks.size > 0 && !w.tasks.has(row.taskId)) continue;
            if (w.filter !== null && !row.matchesFilter) continue;
            if (signal.aborted) return;
            yield create(WatchTasksResponseSchema, {
              message: { case: "event", value: eventToMessage(row, done) },
            });
            lastSent = Date.now();
          }
          if (signal.aborted) break;
          if (blocked && gap !== null) {
            if (Date.now() - gap.since >= GAP_MIN_AGE_MS && (await repo().allFinished(gap.xids))) {
              gap.cleared = true;
              continue;
            }
          } else if (batch.rows.length === BATCH || dirty) {
            continue;
          }
          const waitMs = blocked ? GAP_POLL_MS : Math.max(0, lastSent + w.heartbeatMs - Date.now());
          if (!dirty) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, waitMs);
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            wake = undefined;
          }
          if (signal.aborted) break;
          if (!dirty && !blocked && Date.now() - lastSent >= w.heartbeatMs) {
            yield create(WatchTasksResponseSchema, {
              message: { case: "heartbeat", value: create(HeartbeatSchema, { serverTime: timestampNow() }) },
            });
            lastSent = Date.now();
          }
        }
      } finally {
        signal.removeEventListener("abort", notify);
        unsubscribe();
      }
    },
  };
}
