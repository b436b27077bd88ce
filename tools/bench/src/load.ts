/**
 * Closed-loop load over one long-lived grpc-js channel: `concurrency` callers each send the next request as
 * soon as the previous answered, for a fixed time after a warm-up. Requests are pre-encoded so the client's
 * own cost stays out of the server's numbers.
 */
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import { type LoopTiming, runClosedLoop } from "./closed-loop.js";
import type { Sample } from "./stats.js";

export interface LoadOptions extends LoopTiming {
  readonly address: string;
  /** Full method path, `/package.Service/Method`. */
  readonly path: string;
  /** Pre-encoded requests, used round-robin. */
  readonly requests: readonly Uint8Array[];
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

  try {
    return await runClosedLoop(options, call);
  } finally {
    client.close();
  }
}
