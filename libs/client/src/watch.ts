/**
 * `watchTasks` that survives disconnects: it remembers the resume token of the last event it yielded and,
 * when the stream fails with a retryable code (UNAVAILABLE, ABORTED or INTERNAL from a cut connection, DEADLINE_EXCEEDED)
 * or ends, reconnects with `resume_token` after a backoff, so no event is lost or repeated. Heartbeats are
 * consumed here; only change events are yielded. Stops when `signal` aborts.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { type Client, Code } from "@connectrpc/connect";
import type { TaskChangeEvent } from "@taskmaster/proto/gen/taskmaster/task/v1/event_pb";
import type {
  TaskService,
  WatchTasksRequestSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { toTaskmasterError } from "./errors.js";
import { sleep } from "./interceptors.js";

export interface WatchOptions {
  readonly signal?: AbortSignal;
  /** Heartbeat interval asked of the server (default 15 s): a silent connection is noticed. */
  readonly heartbeatMs?: number;
  /** Longest wait between reconnects (default 5 s). */
  readonly maxBackoffMs?: number;
  /** Called before each reconnect with the error that ended the stream (undefined: the server ended it). */
  readonly onReconnect?: (error: unknown, attempt: number) => void;
}

// A cut connection surfaces as UNAVAILABLE, ABORTED (ECONNRESET), INTERNAL or UNKNOWN depending on where it broke;
// a watch is a read, so reconnecting is always safe.
const RETRYABLE = new Set([
  Code.Unavailable,
  Code.Aborted,
  Code.Internal,
  Code.DeadlineExceeded,
  Code.Unknown,
]);

export async function* watchTasks(
  client: Client<typeof TaskService>,
  request: MessageInitShape<typeof WatchTasksRequestSchema> = {},
  options: WatchOptions = {},
): AsyncGenerator<TaskChangeEvent, void, undefined> {
  let resumeToken = request.resumeToken ?? "";
  let failures = 0;
  const cap = options.maxBackoffMs ?? 5_000;
  while (!options.signal?.aborted) {
    let ended: unknown;
    try {
      const stream = client.watchTasks(
        { ...request, resumeToken, heartbeatInterval: durationFromMs(options.heartbeatMs ?? 15_000) },
        { signal: options.signal, timeoutMs: 0 },
      );
      for await (const res of stream) {
        failures = 0;
        if (res.message.case !== "event") continue;
        const event = res.message.value;
        if (event.header?.resumeToken) resumeToken = event.header.resumeToken;
        yield event;
      }
    } catch (error) {
      if (options.signal?.aborted) return;
      const typed = toTaskmasterError(error);
      if (!RETRYABLE.has(typed.code)) throw typed;
      ended = typed;
    }
    failures++;
    options.onReconnect?.(ended, failures);
    try {
      await sleep(Math.min(cap, 50 * 2 ** Math.min(failures, 10) * Math.random()), options.signal);
    } catch {
      return;
    }
  }
}
