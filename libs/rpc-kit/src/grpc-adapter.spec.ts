import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  type Client,
  Code,
  ConnectError,
  createContextKey,
  createRouterTransport,
  type Interceptor,
  type ServiceImpl,
  type Transport,
} from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Client as GrpcJsClient, credentials as grpcCredentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deadlineFromContext } from "./deadline.js";
import { EchoService, failure, memoryLogger, waitFor } from "./echo-service.test-util.js";
import { createGrpcClient, createGrpcJsTransport } from "./grpc-client.js";
import { getPeer } from "./grpc-handler-context.js";
import { createGrpcServer, type GrpcServer, partialServiceRegistration } from "./grpc-server.js";

const userKey = createContextKey<string>("anonymous", { description: "user" });
const order: string[] = [];
const trace =
  (name: string): Interceptor =>
  (next) =>
  async (req) => {
    order.push(`${name}>`);
    try {
      return await next(req);
    } finally {
      order.push(`<${name}`);
    }
  };

let lastAbort: { reason: unknown; at: number } | undefined;
/** Read through a function: TypeScript would otherwise keep the `= undefined` narrowing. */
const getAbort = () => lastAbort;
let handlerStarted = 0;
let peerSeen: string | undefined;

function waitForAbort(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

const impl: Partial<ServiceImpl<typeof EchoService>> = {
  async echo(req, ctx) {
    order.push("handler");
    handlerStarted++;
    peerSeen = getPeer(ctx);
    if (req.delayMs > 0) {
      const timer = new Promise((r) => setTimeout(r, req.delayMs));
      await Promise.race([timer, waitForAbort(ctx.signal)]);
      if (ctx.signal.aborted) {
        lastAbort = { reason: ctx.signal.reason, at: Date.now() };
        ctx.signal.throwIfAborted();
      }
    }
    ctx.responseHeader.set("x-echo-header", "h1");
    ctx.responseTrailer.set("x-echo-trailer", "t1");
    const user = ctx.values.get(userKey);
    return { text: `${req.text}|${ctx.requestHeader.get("x-client") ?? ""}|${user}`, at: timestampNow() };
  },
  async *serverStream(req, ctx) {
    ctx.responseHeader.set("x-stream", "yes");
    for (let i = 0; i < req.count; i++) {
      if (req.delayMs > 0) {
        handlerStarted++;
        await Promise.race([new Promise((r) => setTimeout(r, req.delayMs)), waitForAbort(ctx.signal)]);
        if (ctx.signal.aborted) {
          lastAbort = { reason: ctx.signal.reason, at: Date.now() };
          return;
        }
      }
      yield { text: req.text, index: i };
    }
    if (req.fail !== "") throw new ConnectError(req.fail, Code.FailedPrecondition);
  },
  async clientStream(reqs) {
    const texts: string[] = [];
    for await (const r of reqs) texts.push(r.text);
    return { text: texts.join(","), index: texts.length };
  },
  async *bidi(reqs) {
    let i = 0;
    for await (const r of reqs) yield { text: r.text.toUpperCase(), index: i++ };
  },
};

const interceptors: Interceptor[] = [
  trace("A"),
  trace("B"),
  (next) => (req) => {
    req.contextValues.set(userKey, req.header.get("x-user") ?? "anonymous");
    return next(req);
  },
];

let server: GrpcServer;
let address: string;
let kit: Client<typeof EchoService>;
let connectNode: Client<typeof EchoService>;

beforeAll(async () => {
  const { logger } = memoryLogger();
  server = createGrpcServer({
    logger,
    services: [partialServiceRegistration(EchoService, impl)],
    interceptors,
  });
  ({ address } = await server.listen("127.0.0.1", 0));
  kit = createGrpcClient(EchoService, { address });
  connectNode = createGrpcClient(EchoService, createGrpcTransport({ baseUrl: `http://${address}` }));
});

afterAll(async () => {
  await server.shutdown(1_000);
});

describe.each([
  ["rpc-kit grpc-js client", () => kit],
  ["connect-node gRPC client", () => connectNode],
])("adapter via %s", (_name, client) => {
  it("unary with headers, trailers, context values", async () => {
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const res = await client().echo(
      { text: "hi" },
      {
        headers: { "x-client": "c1", "x-user": "ada" },
        onHeader: (h) => {
          header = h;
        },
        onTrailer: (t) => {
          trailer = t;
        },
      },
    );
    expect(res.text).toBe("hi|c1|ada");
    expect(res.at?.seconds).toBeGreaterThan(0n);
    expect(header?.get("x-echo-header")).toBe("h1");
    expect(trailer?.get("x-echo-trailer")).toBe("t1");
    expect(peerSeen).toMatch(/127\.0\.0\.1/);
  });

  it("server streaming", async () => {
    const got: number[] = [];
    for await (const r of client().serverStream({ text: "s", count: 5 })) got.push(r.index);
    expect(got).toEqual([0, 1, 2, 3, 4]);
  });

  it("server streaming error after messages keeps code and message", async () => {
    const got: number[] = [];
    const err = await (async () => {
      for await (const r of client().serverStream({ text: "s", count: 2, fail: "stop here" }))
        got.push(r.index);
    })().catch((e: unknown) => e);
    expect(got).toEqual([0, 1]);
    expect(ConnectError.from(err).code).toBe(Code.FailedPrecondition);
    expect(ConnectError.from(err).rawMessage).toBe("stop here");
  });

  it("client streaming", async () => {
    async function* input() {
      for (const t of ["a", "b", "c"]) yield { text: t };
    }
    const res = await client().clientStream(input());
    expect(res).toMatchObject({ text: "a,b,c", index: 3 });
  });

  it("bidi streaming", async () => {
    async function* input() {
      for (const t of ["x", "y"]) yield { text: t };
    }
    const out: string[] = [];
    for await (const r of client().bidi(input())) out.push(r.text);
    expect(out).toEqual(["X", "Y"]);
  });

  it("unimplemented method -> UNIMPLEMENTED", async () => {
    const err = await failure(client().notDone({}));
    expect(err).toMatchObject({ code: Code.Unimplemented });
  });

  it("deadline exceeded reaches the handler signal", async () => {
    lastAbort = undefined;
    const err = await failure(client().echo({ text: "slow", delayMs: 10_000 }, { timeoutMs: 150 }));
    expect(err.code).toBe(Code.DeadlineExceeded);
    await waitFor(() => lastAbort !== undefined);
    expect(ConnectError.from(getAbort()?.reason).code).toBe(Code.DeadlineExceeded);
  });

  it("client cancellation reaches the handler signal", async () => {
    lastAbort = undefined;
    const before = handlerStarted;
    const ac = new AbortController();
    const call = failure(client().echo({ text: "slow", delayMs: 10_000 }, { signal: ac.signal }));
    await waitFor(() => handlerStarted > before);
    ac.abort();
    expect((await call).code).toBe(Code.Canceled);
    await waitFor(() => lastAbort !== undefined);
    expect(ConnectError.from(getAbort()?.reason).code).toBe(Code.Canceled);
  });

  it("cancelling a server stream aborts the handler", async () => {
    lastAbort = undefined;
    const ac = new AbortController();
    const got: number[] = [];
    const err = await (async () => {
      for await (const r of client().serverStream(
        { text: "s", count: 1000, delayMs: 20 },
        { signal: ac.signal },
      )) {
        got.push(r.index);
        if (got.length === 2) ac.abort();
      }
    })().catch((e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.Canceled);
    await waitFor(() => lastAbort !== undefined);
    expect(ConnectError.from(getAbort()?.reason).code).toBe(Code.Canceled);
  });
});

describe("undecodable request bytes", () => {
  it("a unary request that is no valid message is INVALID_ARGUMENT (not grpc-js's INTERNAL), handler not run", async () => {
    const started = handlerStarted;
    const channel = new GrpcJsClient(address, grpcCredentials.createInsecure());
    try {
      const status = await new Promise<{ code: number; details: string }>((resolve) => {
        const call = channel.makeUnaryRequest(
          `/${EchoService.typeName}/Echo`,
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from([0xff, 0xff, 0xff]),
          () => {},
        );
        call.on("status", resolve);
      });
      expect(status.code).toBe(Code.InvalidArgument);
      expect(status.details).toMatch(
        /^invalid request message: not a valid protobuf binary encoding \(.+\)$/,
      );
      expect(handlerStarted).toBe(started);
    } finally {
      channel.close();
    }
  });
});

describe("undecodable request bytes in streaming calls", () => {
  const garbage = Buffer.from([0xff, 0xff, 0xff]);
  const statusOf = (call: { on(e: "status", l: (s: { code: number; details: string }) => void): unknown }) =>
    new Promise<{ code: number; details: string }>((resolve) => call.on("status", resolve));

  it("a server-streaming request that is no valid message is INVALID_ARGUMENT", async () => {
    const channel = new GrpcJsClient(address, grpcCredentials.createInsecure());
    try {
      const call = channel.makeServerStreamRequest(
        `/${EchoService.typeName}/ServerStream`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        garbage,
      );
      call.on("data", () => {});
      call.on("error", () => {});
      const status = await statusOf(call);
      expect(Code[status.code]).toBe(Code[Code.InvalidArgument]);
      expect(status.details).toMatch(/^invalid request message: not a valid protobuf binary encoding/);
    } finally {
      channel.close();
    }
  });

  it("a client-stream message that is no valid message ends the call with INVALID_ARGUMENT", async () => {
    const channel = new GrpcJsClient(address, grpcCredentials.createInsecure());
    try {
      const done = new Promise<{ code: number; details: string }>((resolve) => {
        const call = channel.makeClientStreamRequest(
          `/${EchoService.typeName}/ClientStream`,
          (b: Buffer) => b,
          (b: Buffer) => b,
          (err) => resolve({ code: err?.code ?? 0, details: err?.details ?? "" }),
        );
        call.write(garbage);
        call.end();
      });
      const status = await done;
      expect(Code[status.code]).toBe(Code[Code.InvalidArgument]);
      expect(status.details).toMatch(/^invalid request message: not a valid protobuf binary encoding/);
    } finally {
      channel.close();
    }
  });
});

describe("interceptors", () => {
  it("run in the same order in grpc-js and in createRouterTransport", async () => {
    order.length = 0;
    await kit.echo({ text: "x" });
    const viaGrpc = [...order];
    order.length = 0;
    const router: Transport = createRouterTransport(({ service }) => service(EchoService, impl), {
      router: { interceptors },
    });
    await createGrpcClient(EchoService, router).echo({ text: "x" });
    expect(viaGrpc).toEqual(["A>", "B>", "handler", "<B", "<A"]);
    expect(order).toEqual(viaGrpc);
  });

  it("client-side interceptors of the grpc-js transport see the call", async () => {
    const seen: string[] = [];
    const transport = createGrpcJsTransport({
      address,
      interceptors: [
        (next) => async (req) => {
          seen.push(req.method.name);
          req.header.set("x-user", "from-interceptor");
          return next(req);
        },
      ],
    });
    const res = await createGrpcClient(EchoService, transport).echo({ text: "i" });
    expect(seen).toEqual(["Echo"]);
    expect(res.text).toBe("i||from-interceptor");
    transport.close();
  });
});

describe("deadlineFromContext", () => {
  it("caps and propagates the remaining time", () => {
    const signal = new AbortController().signal;
    expect(deadlineFromContext({ timeoutMs: () => undefined, signal }, 5_000)).toEqual({
      timeoutMs: 5_000,
      signal,
    });
    expect(deadlineFromContext({ timeoutMs: () => 1_234.5, signal }, 5_000).timeoutMs).toBe(1_234);
    expect(() => deadlineFromContext({ timeoutMs: () => -1, signal }, 5_000)).toThrow(/deadline exceeded/);
  });
});
