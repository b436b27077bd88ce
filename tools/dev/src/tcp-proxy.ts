/**
 * A userland TCP proxy for fault injection: forwards 127.0.0.1:<port> to a target. `blackhole(true)` stops
 * forwarding in both directions without closing anything (bytes wait in the proxy, new connections are
 * accepted and left hanging), as a network partition looks to both ends; `blackhole(false)` resumes.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export interface TcpProxy {
  readonly port: number;
  blackhole(on: boolean): void;
  close(): Promise<void>;
}

export async function startTcpProxy(
  target: { host: string; port: number },
  /** Listen port (default: any free one). */
  listenPort = 0,
): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let holed = false;
  const server: Server = createServer((client) => {
    const upstream = createConnection(target);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    client.pipe(upstream);
    upstream.pipe(client);
    if (holed) {
      client.pause();
      upstream.pause();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listenPort, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    blackhole(on) {
      holed = on;
      for (const [a, b] of pairs) {
        if (on) {
          a.pause();
          b.pause();
        } else {
          a.resume();
          b.resume();
        }
      }
    },
    close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
