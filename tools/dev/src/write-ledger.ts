/**
 * Write load with a client ledger: concurrent writers call TaskService.CreateTask (native gRPC through the
 * gateway), each write with its own request id (idempotency key) and a unique title. UNAVAILABLE and
 * DEADLINE_EXCEEDED are retried with the same request id (backoff 100 ms doubling to 1 s); any other error
 * ends the write. The ledger holds every acknowledged write; codes count every attempt's outcome. The
 * channel reconnects with the same bounded backoff (100 ms to 1 s) as the stack's own channels, so "serving
 * again" after a gateway restart measures the stack, not grpc-js's default client backoff (1 s growing 1.6x).
 */
import { randomUUID } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import {
  CreateTaskRequestSchema,
  CreateTaskResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";

export interface LedgerEntry {
  readonly title: string;
  readonly requestId: string;
  readonly name: string;
}

export interface WriteLoad {
  readonly acknowledged: LedgerEntry[];
  /** Attempts by gRPC code name (OK included). */
  readonly codes: Map<string, number>;
  /** Failed attempts' times (ms since epoch), for the outage window. */
  readonly failures: number[];
  /** Successful attempts' times. */
  readonly successes: number[];
  /** Attempts that answered later than their deadline + 1 s (the client saw the call outlive its deadline). */
  readonly overruns: number[];
  /** Stops issuing new writes; resolves once every write in flight is acknowledged or given up. */
  stop(): Promise<void>;
}

const RETRYABLE = new Set<number>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]);

function attempt(
  client: Client,
  title: string,
  requestId: string,
  deadlineMs: number,
): Promise<{ code: number; name?: string }> {
  const request = create(CreateTaskRequestSchema, { task: { title }, requestId });
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      "/taskmaster.task.v1.TaskService/CreateTask",
      (m: Uint8Array) => Buffer.from(m),
      (b: Buffer) => fromBinary(CreateTaskResponseSchema, b),
      toBinary(CreateTaskRequestSchema, request),
      new Metadata(),
      { deadline: Date.now() + deadlineMs },
      (error: ServiceError | null, res?: { task?: { name: string } }) =>
        resolve(error ? { code: error.code } : { code: status.OK, name: res?.task?.name ?? "" }),
    );
  });
}

export function startWriteLoad(options: {
  address: string;
  run: string;
  concurrency: number;
  deadlineMs: number;
  /** A write still failing after this long is given up (not acknowledged). */
  giveUpMs: number;
}): WriteLoad {
  const client = new Client(options.address, credentials.createInsecure(), {
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1_000,
  });
  const load = {
    acknowledged: [] as LedgerEntry[],
    codes: new Map<string, number>(),
    failures: [] as number[],
    successes: [] as number[],
    overruns: [] as number[],
  };
  let stopped = false;
  let seq = 0;
  const count = (code: number) => {
    const name = status[code] ?? String(code);
    load.codes.set(name, (load.codes.get(name) ?? 0) + 1);
  };
  const write = async () => {
    const title = `fault ${options.run} write ${seq++}`;
    const requestId = randomUUID();
    const started = Date.now();
    let delay = 100;
    for (;;) {
      const t0 = Date.now();
      const result = await attempt(client, title, requestId, options.deadlineMs);
      const t1 = Date.now();
      if (t1 - t0 > options.deadlineMs + 1_000) load.overruns.push(t1 - t0 - options.deadlineMs);
      count(result.code);
      if (result.code === status.OK) {
        load.successes.push(t1);
        load.acknowledged.push({ title, requestId, name: result.name ?? "" });
        return;
      }
      load.failures.push(t1);
      if (!RETRYABLE.has(result.code) || t1 - started > options.giveUpMs) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1_000);
    }
  };
  const loops = Array.from({ length: options.concurrency }, async () => {
    while (!stopped) await write();
  });
  return {
    ...load,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      client.close();
    },
  };
}
