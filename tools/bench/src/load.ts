/**
 * Closed-loop load over one long-lived grpc-js channel: `concurrency` callers each send the next request as
 * soon as the previous answered, for a fixed time after a warm-up. Requests are pre-encoded so the client's
 * own cost stays out of the server's numbers.
 */
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import type { Sample } from "./stats.js";

export interface LoadOptions {
  readonly address: string;
  /** Full method path, `/package.Service/Method`. */
  readonly path: string;
  /** Pre-encoded requests, used round-robin. */
  readonly requests: readonly Uint8Array[];
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Request metadata sent with every call (e.g. caller identity headers). */
  readonly metadata?: Readonly<Record<string, string>>;
}

const identity = (b: Buffer) => b;

export async function runLoad(options: LoadOptions): Promise<Sample> {
  const client = new Client(options.address, credentials.createInsecure(), {
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  });
  const requests = options.requests.map((r) => Buffer.from(r));
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
  let next = 0;
  const call = () =>
    new Promise<boolean>((resolve) => {
      const request = requests[next++ % requests.length] as Buffer;
      client.makeUnaryRequest(options.path, identity, identity, request, metadata.clone(), {}, (error) =>
        resolve(error === null),
      );
    });

  const capacity = 2_000_000;
  const latencies = new Float64Array(capacity);
  let ops = 0;
  let errors = 0;
  let measuring = false;
  const warmupEnd = Date.now() + options.warmupMs;
  const end = warmupEnd + options.durationMs;
  let measuredStart = 0n;

  const worker = async () => {
    for (;;) {
      const now = Date.now();
      if (now >= end) return;
      if (!measuring && now >= warmupEnd) {
        measuring = true;
        measuredStart = process.hrtime.bigint();
      }
      const counted = measuring;
      const t0 = process.hrtime.bigint();
      const ok = await call();
      if (!counted) continue;
      if (!ok) {
        errors++;
        continue;
      }
      if (ops < capacity) latencies[ops] = Number(process.hrtime.bigint() - t0) / 1000;
      ops++;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = measuring ? Number(process.hrtime.bigint() - measuredStart) / 1e9 : 0;
  client.close();
  return { ops, errors, seconds, latenciesUs: latencies.subarray(0, Math.min(ops, capacity)) };
}
