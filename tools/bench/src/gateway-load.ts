/**
 * Closed-loop HTTP/1.1 load for the gateway: `concurrency` callers, each on a keep-alive connection of one
 * agent, POST the next pre-encoded body as soon as the previous answer arrived, for a fixed time after a
 * warm-up. Same measuring rules as load.ts (gRPC), so the two are comparable in one run.
 */
import { Agent, request } from "node:http";
import { type LoopTiming, runClosedLoop } from "./closed-loop.js";
import type { Sample } from "./stats.js";

export interface HttpLoadOptions extends LoopTiming {
  /** `http://host:port/package.Service/Method`. */
  readonly url: string;
  readonly contentType: string;
  /** Pre-encoded request bodies, used round-robin. */
  readonly bodies: readonly Buffer[];
  /** Extra request headers (e.g. `connect-protocol-version`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Whether an answer (status, full body, trailers) is a success. */
  readonly ok: (status: number, body: Buffer, headers: Readonly<Record<string, unknown>>) => boolean;
}

/** gRPC-Web: the 5-byte frame (flag 0, big-endian length) around one message. */
export function grpcWebFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** gRPC-Web success: HTTP 200 and `grpc-status: 0` in the trailer frame (or the headers, trailers-only). */
export function grpcWebOk(status: number, body: Buffer, headers: Readonly<Record<string, unknown>>): boolean {
  if (status !== 200) return false;
  if (headers["grpc-status"] !== undefined) return headers["grpc-status"] === "0";
  let at = 0;
  while (at + 5 <= body.length) {
    const flag = body[at] as number;
    const length = body.readUInt32BE(at + 1);
    if (flag & 0x80) {
      const trailers = body.subarray(at + 5, at + 5 + length).toString("latin1");
      return /(^|\r\n)grpc-status:\s*0(\r\n|$)/i.test(trailers);
    }
    at += 5 + length;
  }
  return false;
}

export async function runHttpLoad(options: HttpLoadOptions): Promise<Sample> {
  const target = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency, scheduling: "fifo" });
  const baseHeaders = { "content-type": options.contentType, ...options.headers };
  let next = 0;
  const call = () =>
    new Promise<boolean>((resolve) => {
      const body = options.bodies[next++ % options.bodies.length] as Buffer;
      const req = request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: "POST",
          headers: { ...baseHeaders, "content-length": body.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve(
              options.ok(
                res.statusCode ?? 0,
                chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks),
                res.headers,
              ),
            ),
          );
          res.on("error", () => resolve(false));
        },
      );
      req.on("error", () => resolve(false));
      req.end(body);
    });

  try {
    return await runClosedLoop(options, call);
  } finally {
    agent.destroy();
  }
}
