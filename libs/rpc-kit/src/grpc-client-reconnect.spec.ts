/**
 * A channel of `createGrpcJsTransport` towards an upstream that was down (a service restarted after a crash)
 * connects again soon after the upstream is back: grpc-js's default reconnect backoff grows 1.6x per failed
 * attempt up to 120 s, so after a few seconds down the next attempt is seconds away and every call through
 * the channel keeps failing UNAVAILABLE long after the upstream serves again. The transport's channels cap
 * the backoff. Real sockets: a listener that refuses the HTTP/2 handshake (counts attempts), then a real
 * grpc-js server on the same port.
 */
import { createServer, type Server, type Socket } from "node:net";
import { Server as GrpcServer, ServerCredentials } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { createGrpcJsTransport, type GrpcJsTransport } from "./grpc-client.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A TCP listener that accepts and drops every connection; resolves `attempts(n)` at the n-th one. */
async function refusingListener(): Promise<{
  port: number;
  attempts(n: number): Promise<void>;
  close(): Promise<void>;
}> {
  let count = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    count += 1;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.destroy();
    for (const w of waiters.filter((w) => count >= w.n)) w.resolve();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    attempts: (n) =>
      count >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function waitForReady(transport: GrpcJsTransport, timeoutMs: number): Promise<Error | undefined> {
  return new Promise((resolve) =>
    transport.client.waitForReady(Date.now() + timeoutMs, (error) => resolve(error ?? undefined)),
  );
}

describe("createGrpcJsTransport reconnect backoff", () => {
  it("connects to an upstream that is back within a bounded backoff after four failed attempts", async () => {
    const down = await refusingListener();
    const transport = createGrpcJsTransport({ address: `127.0.0.1:${down.port}` });
    cleanups.push(() => transport.close());
    // The channel tries to connect while the upstream is down (four failed attempts: backoff has grown).
    const first = waitForReady(transport, 60_000);
    await down.attempts(4);
    await down.close();
    const server = new GrpcServer();
    cleanups.push(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${down.port}`, ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    // The upstream serves again: the channel is ready before a short deadline (grpc-js's default would wait
    // 4.1 s +-20% for its fifth attempt).
    expect(await waitForReady(transport, 2_500)).toBeUndefined();
    expect(await first).toBeUndefined();
  }, 30_000);
});
