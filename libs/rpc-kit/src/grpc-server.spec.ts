import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { Code, ConnectError, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as S,
} from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { currentCallerContext } from "@taskmaster/telemetry/caller-context";
import { describe, expect, it } from "vitest";
import { EchoService, failure, memoryLogger, waitFor } from "./echo-service.test-util.js";
import { ERROR_BOUNDS } from "./error-bounds.js";
import { createGrpcClient } from "./grpc-client.js";
import {
  createGrpcServer,
  ListenError,
  partialServiceRegistration,
  SERVER_CREATE_CHANNEL,
  type ServerCreateEvent,
} from "./grpc-server.js";
import { validator } from "./validation.js";

let started = 0;
let abortedBy: unknown;

const impl: Partial<ServiceImpl<typeof EchoService>> = {
  async echo(req, ctx) {
    started++;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, req.delayMs);
      ctx.signal.addEventListener("abort", () => {
        abortedBy = ctx.signal.reason;
        clearTimeout(t);
        resolve();
      });
    });
    ctx.signal.throwIfAborted();
    return { text: req.text };
  },
};

function newServer() {
  return createGrpcServer({
    logger: memoryLogger().logger,
    services: [partialServiceRegistration(EchoService, impl)],
    limits: { maxReceiveMessageLength: 1024, maxSendMessageLength: 1024 },
    keepalive: { timeMs: 60_000, timeoutMs: 20_000 },
  });
}

describe("createGrpcServer", () => {
  it("announces itself on the server-create channel, whose subscribers' interceptors see every call", async () => {
    const seen: string[] = [];
    const events: ServerCreateEvent[] = [];
    const tap: Interceptor = (next) => async (req) => {
      seen.push(req.method.name);
      return next(req);
    };
    const onCreate = (event: unknown): void => {
      events.push(event as ServerCreateEvent);
      (event as ServerCreateEvent).outerInterceptors.push(tap);
    };
    subscribe(SERVER_CREATE_CHANNEL, onCreate);
    const watched = newServer();
    unsubscribe(SERVER_CREATE_CHANNEL, onCreate);
    const unwatched = newServer();
    try {
      expect(events.map((e) => e.services)).toEqual([[EchoService.typeName]]);
      const a = await watched.listen("127.0.0.1", 0);
      const b = await unwatched.listen("127.0.0.1", 0);
      await createGrpcClient(EchoService, { address: a.address }).echo({ text: "seen", delayMs: 0 });
      await createGrpcClient(EchoService, { address: b.address }).echo({ text: "unseen", delayMs: 0 });
      expect(seen).toEqual(["Echo"]);
    } finally {
      await Promise.all([watched.shutdown(1_000), unwatched.shutdown(1_000)]);
    }
  });

  it("graceful shutdown drains an in-flight call and refuses new ones", async () => {
    const server = newServer();
    const { address } = await server.listen("127.0.0.1", 0);
    const client = createGrpcClient(EchoService, { address });
    const health = createGrpcClient(Health, { address });
    expect((await health.check({ service: "" })).status).toBe(S.SERVING);
    const before = started;
    const inFlight = client.echo({ text: "drain me", delayMs: 300 });
    await waitFor(() => started > before);
    const stopping = server.shutdown(5_000);
    expect(server.health?.getStatus("")).toBe(S.NOT_SERVING);
    await expect(inFlight).resolves.toMatchObject({ text: "drain me" });
    expect(await stopping).toEqual({ forced: false });
    const late = await failure(
      createGrpcClient(EchoService, { address }).echo({ text: "late" }, { timeoutMs: 1_000 }),
    );
    expect([Code.Unavailable, Code.DeadlineExceeded]).toContain(late.code);
  });

  it("forces shutdown after the grace period, aborting handlers with UNAVAILABLE", async () => {
    const server = newServer();
    const { address } = await server.listen("127.0.0.1", 0);
    const client = createGrpcClient(EchoService, { address });
    const before = started;
    abortedBy = undefined;
    const inFlight = client
      .echo({ text: "too slow", delayMs: 30_000 })
      .catch((e: unknown) => ConnectError.from(e));
    await waitFor(() => started > before);
    // The handler would sleep 30 s: `forced` proves the grace bound ended it, not the handler.
    expect(await server.shutdown(200)).toEqual({ forced: true });
    const err = await inFlight;
    expect(err).toBeInstanceOf(ConnectError);
    await waitFor(() => abortedBy !== undefined);
    expect(ConnectError.from(abortedBy).code).toBe(Code.Unavailable);
  });

  it("rejects oversized messages with RESOURCE_EXHAUSTED", async () => {
    const server = newServer();
    const { address } = await server.listen("127.0.0.1", 0);
    const err = await failure(createGrpcClient(EchoService, { address }).echo({ text: "x".repeat(4096) }));
    expect(err.code).toBe(Code.ResourceExhausted);
    await server.shutdown(500);
  });

  it("maxDeadlineMs caps the deadline handlers see (also for calls without one)", async () => {
    const server = createGrpcServer({
      logger: memoryLogger().logger,
      services: [partialServiceRegistration(EchoService, impl)],
      maxDeadlineMs: 150,
    });
    const { address } = await server.listen("127.0.0.1", 0);
    abortedBy = undefined;
    const err = await failure(
      createGrpcClient(EchoService, { address }).echo({ text: "capped", delayMs: 10_000 }),
    );
    // The call set no deadline and the handler sleeps 10 s: only the cap can make it DEADLINE_EXCEEDED.
    expect(err.code).toBe(Code.DeadlineExceeded);
    expect(ConnectError.from(abortedBy).code).toBe(Code.DeadlineExceeded);
    await server.shutdown(500);
  });

  it("the call's deadline is in the audit context (bounds database retries), none when the call has none", async () => {
    const seen: (number | undefined)[] = [];
    const server = createGrpcServer({
      logger: memoryLogger().logger,
      services: [
        partialServiceRegistration(EchoService, {
          async echo(req) {
            seen.push(currentCallerContext()?.deadline);
            return { text: req.text };
          },
        }),
      ],
    });
    const { address } = await server.listen("127.0.0.1", 0);
    const client = createGrpcClient(EchoService, { address });
    const before = Date.now();
    await client.echo({ text: "with a deadline" }, { timeoutMs: 5_000 });
    await client.echo({ text: "without" });
    await server.shutdown(500);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBeGreaterThan(before);
    expect(seen[0]).toBeLessThanOrEqual(Date.now() + 5_000);
    expect(seen[1]).toBeUndefined();
  });

  it("an error message with a lone surrogate or a character cut in half reaches the client (the server stays up)", async () => {
    const server = createGrpcServer({
      logger: memoryLogger().logger,
      services: [
        partialServiceRegistration(EchoService, {
          async echo(req) {
            if (req.text === "cut") {
              const v = validator();
              // A description cut at its bound in the middle of an emoji (a surrogate pair).
              v.add("text", `${"x".repeat(ERROR_BOUNDS.maxTextChars - 2)}🙂🙂`);
              v.check();
            }
            throw new ConnectError(`bad value ${req.text}`, Code.InvalidArgument);
          },
        }),
      ],
    });
    const { address } = await server.listen("127.0.0.1", 0);
    const client = createGrpcClient(EchoService, { address });
    for (const text of ["\ud800 lone high", "lone low \udc00", "cut"]) {
      const err = await failure(client.echo({ text }, { timeoutMs: 5_000 }));
      expect(Code[err.code]).toBe(Code[Code.InvalidArgument]);
      expect(err.rawMessage.isWellFormed()).toBe(true);
    }
    await server.shutdown(500);
  });

  it("port in use gives one clear line", async () => {
    const a = newServer();
    const { port } = await a.listen("127.0.0.1", 0);
    const b = newServer();
    const err = await b.listen("127.0.0.1", port).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ListenError);
    expect((err as ListenError).code).toBe("EADDRINUSE");
    expect((err as Error).message).toBe(`cannot listen on 127.0.0.1:${port}: address already in use`);
    await a.shutdown(500);
    await b.shutdown(500);
  });
});
