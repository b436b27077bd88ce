/** Helpers for the monitoring specs: error inspection, condition waits, and a TCP proxy. */
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";

export async function rpcError(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}

export function violationFields(err: ConnectError): string[] {
  return err.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => v.field));
}

export function reasonOf(err: ConnectError): string | undefined {
  return err.findDetails(ErrorInfoSchema)[0]?.reason;
}

/** No SQL, stack traces or connection strings in a client-visible message. */
export function expectClean(err: ConnectError): void {
  const text = err.rawMessage;
  if (/\bselect\b|\bfrom\b.*\bwhere\b|\n\s+at |postgres:\/\//i.test(text)) {
    throw new Error(`error message leaks internals: ${text}`);
  }
}

export { Code };

/** Poll `fn` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms (${String(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A TCP forwarder that can be taken down (closing every connection) and brought back on the same port. */
export class TcpProxy {
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  port = 0;
  constructor(
    readonly targetHost: string,
    readonly targetPort: number,
  ) {}

  async up(): Promise<void> {
    const server = createServer((client) => {
      if (this.#server !== server) {
        client.destroy();
        return;
      }
      const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on("close", () => this.#sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    const addr = server.address();
    this.port = typeof addr === "object" && addr ? addr.port : 0;
    this.#server = server;
  }

  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    // Stop accepting first, then cut every open connection (also ones accepted meanwhile).
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const s of this.#sockets) s.destroy();
    await closed;
  }
}
