/**
 * One generic adapter: a protobuf-es `DescService` + a Connect-style `ServiceImpl` become a grpc-js
 * `ServiceDefinition` + `UntypedServiceImplementation`. No proto-loader, no second code generator.
 *
 * The same handlers and the same Connect `Interceptor`s run here, in connect-node and in
 * `createRouterTransport`. The hot path is kept lean: request headers, response headers/trailers, the
 * abort signal and context values are created lazily, only when a handler or interceptor touches them.
 */
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  isMessage,
  type Message,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type HandlerContext,
  type Interceptor,
  type ServiceImpl,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import type {
  handleBidiStreamingCall,
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  Metadata,
  MethodDefinition,
  ServerDuplexStream,
  ServerWritableStream,
  ServiceDefinition,
  StatusObject,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
// Not re-exported from the package index; a type-only deep import (erased at run time).
import type { ServerSurfaceCall } from "@grpc/grpc-js/build/src/server-call.js";
import { asBuffer, headersFromMetadata, metadataFromHeaders, statusFromConnectError } from "./metadata.js";

/** What a `contextValues` factory sees about the incoming call. */
export interface GrpcCallInfo {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly metadata: Metadata;
  readonly peer: string;
}

export interface GrpcAdapterOptions {
  /** Connect interceptors, first = outermost (same order semantics as connect-node). */
  readonly interceptors?: readonly Interceptor[] | undefined;
  /** Per-call context values (same role as connect-node's `contextValues` option). */
  readonly contextValues?: ((call: GrpcCallInfo) => ContextValues) | undefined;
  /**
   * Cap on the deadline a handler sees (`timeoutMs()`, `signal`): min(client deadline, now + maxDeadlineMs).
   * Calls without a client deadline get this one. Enforced through the signal only when it is read.
   */
  readonly maxDeadlineMs?: number | undefined;
  /** Aborted when the server shuts down; handlers' signals abort with UNAVAILABLE then. */
  readonly shutdownSignal?: AbortSignal | undefined;
  /**
   * Called for errors that are not ConnectErrors when they reach the adapter (i.e. no error interceptor
   * mapped them). They are answered INTERNAL "internal error"; nothing of them reaches the client.
   */
  readonly onUnexpectedError?: ((error: unknown, context: HandlerContext) => void) | undefined;
}

/** The grpc-js pieces for `server.addService(definition, implementation)`. */
export interface GrpcServiceAdapter {
  readonly service: DescService;
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
}

type AnyFn = (req: UnaryRequest | StreamRequest) => Promise<UnaryResponse | StreamResponse>;
type AnyImpl = (input: unknown, ctx: HandlerContext) => unknown;

const REQ = Symbol("rpc-kit.request");

function deadlineOf(call: ServerSurfaceCall): number {
  const d = call.getDeadline();
  return typeof d === "number" ? d : d.getTime();
}

/**
 * The Connect `HandlerContext` for one grpc-js call. Lazy: nothing is allocated until used.
 * Interceptors that replace `header`/`signal`/`contextValues` of the request get a derived context
 * (prototype-chained), so all lazy state lives on the root context (`_root`).
 */
export class GrpcHandlerContext implements HandlerContext {
  readonly requestMethod = "POST";
  readonly protocolName = "grpc";
  /** The grpc-js call (for what HandlerContext has no slot for). */
  readonly call: ServerSurfaceCall;
  readonly method: DescMethod;
  readonly service: DescService;
  /** Deadline the handler sees (epoch ms, Infinity = none): client deadline, capped by maxDeadlineMs. */
  readonly deadline: number;
  _root: GrpcHandlerContext;
  _opts: GrpcAdapterOptions;
  /** When the call arrived (epoch ms). */
  readonly _start = Date.now();
  _reqHeader: Headers | undefined = undefined;
  _resHeader: Headers | undefined = undefined;
  _resTrailer: Headers | undefined = undefined;
  _values: ContextValues | undefined = undefined;
  _ac: AbortController | undefined = undefined;
  _timer: NodeJS.Timeout | undefined = undefined;
  _done = false;
  _headerSent = false;
  _onShutdown: (() => void) | undefined = undefined;
  /** The request object handed to the interceptor chain (to spot replaced requests). */
  _req: object | undefined = undefined;
  _res: object | undefined = undefined;

  constructor(call: ServerSurfaceCall, method: DescMethod, opts: GrpcAdapterOptions) {
    this.call = call;
    this.method = method;
    this.service = method.parent;
    this._opts = opts;
    this._root = this;
    const grpcDeadline = deadlineOf(call);
    this.deadline =
      opts.maxDeadlineMs === undefined
        ? grpcDeadline
        : Math.min(grpcDeadline, Date.now() + opts.maxDeadlineMs);
  }

  get url(): string {
    return `http://${this.call.getHost()}${this.call.getPath()}`;
  }

  /** Remote address as grpc-js reports it (e.g. `ipv4:127.0.0.1:53122`). */
  get peer(): string {
    return this.call.getPeer();
  }

  get requestHeader(): Headers {
    const r = this._root;
    r._reqHeader ??= headersFromMetadata(r.call.metadata);
    return r._reqHeader;
  }

  get responseHeader(): Headers {
    const r = this._root;
    r._resHeader ??= new Headers();
    return r._resHeader;
  }

  get responseTrailer(): Headers {
    const r = this._root;
    r._resTrailer ??= new Headers();
    return r._resTrailer;
  }

  get values(): ContextValues {
    const r = this._root;
    if (r._values === undefined) {
      const factory = r._opts.contextValues;
      r._values = factory
        ? factory({ service: r.service, method: r.method, metadata: r.call.metadata, peer: r.call.getPeer() })
        : createContextValues();
    }
    return r._values;
  }

  timeoutMs(): number | undefined {
    const d = this._root.deadline;
    return d === Number.POSITIVE_INFINITY ? undefined : d - Date.now();
  }

  get signal(): AbortSignal {
    const r = this._root;
    if (r._ac === undefined) {
      const ac = new AbortController();
      r._ac = ac;
      if (r._done) {
        ac.abort();
      } else if (r.call.cancelled) {
        ac.abort(r._cancelReason());
      } else {
        r.call.once("cancelled", () => r._onCancelled());
        const remaining = r.deadline - Date.now();
        if (remaining < deadlineOf(r.call) - Date.now() && Number.isFinite(remaining)) {
          r._timer = setTimeout(
            () => {
              ac.abort(new ConnectError("deadline exceeded", Code.DeadlineExceeded));
            },
            Math.max(0, remaining),
          );
          r._timer.unref();
        }
        const shutdown = r._opts.shutdownSignal;
        if (shutdown !== undefined) {
          if (shutdown.aborted) ac.abort(new ConnectError("server is shutting down", Code.Unavailable));
          else {
            r._onShutdown = () => ac.abort(new ConnectError("server is shutting down", Code.Unavailable));
            shutdown.addEventListener("abort", r._onShutdown, { once: true });
          }
        }
      }
    }
    return r._ac.signal;
  }

  _cancelReason(): ConnectError {
    // A client whose deadline passes sends RST_STREAM, which can arrive before our own copy of the deadline
    // (counted from when the request reached us) runs out. A cancel that close to the deadline is the
    // deadline: within 100 ms or a quarter of the call's budget, whichever is larger.
    const deadline = deadlineOf(this.call);
    const slack = Math.max(100, (deadline - this._start) / 4);
    return Number.isFinite(deadline) && Date.now() >= deadline - slack
      ? new ConnectError("deadline exceeded", Code.DeadlineExceeded)
      : new ConnectError("call cancelled by the client", Code.Canceled);
  }

  _onCancelled(): void {
    if (this._ac === undefined || this._ac.signal.aborted) return;
    if (this._done) this._ac.abort();
    else this._ac.abort(this._cancelReason());
  }

  /** Send response headers if a handler/interceptor set any (before the first message / the response). */
  _flushHeader(): void {
    if (this._headerSent) return;
    this._headerSent = true;
    const h = this._resHeader;
    if (h !== undefined && !isEmpty(h)) this.call.sendMetadata(metadataFromHeaders(h));
  }

  _trailerMetadata(): Metadata | undefined {
    const t = this._resTrailer;
    return t === undefined || isEmpty(t) ? undefined : metadataFromHeaders(t);
  }

  /** The RPC is over: abort the signal (Connect semantics), release timers and listeners. */
  _finish(): void {
    this._done = true;
    if (this._timer !== undefined) clearTimeout(this._timer);
    if (this._ac !== undefined) {
      if (this._onShutdown !== undefined)
        this._opts.shutdownSignal?.removeEventListener("abort", this._onShutdown);
      if (!this._ac.signal.aborted) this._ac.abort();
    }
  }

  /** Map anything thrown to the grpc status sent to the client. */
  _errorStatus(error: unknown): StatusObject {
    let ce: ConnectError;
    if (error instanceof ConnectError) {
      ce = error;
    } else {
      const reason = this._ac?.signal.reason;
      if (reason instanceof ConnectError && this._ac?.signal.aborted) {
        ce = reason;
      } else {
        this._opts.onUnexpectedError?.(error, this);
        ce = new ConnectError("internal error", Code.Internal, undefined, undefined, error);
      }
    }
    return statusFromConnectError(ce, this._resTrailer);
  }

  /** Adopt headers/trailers of a response object an interceptor replaced. */
  _adopt(res: UnaryResponse | StreamResponse): void {
    if (res === this._res) return;
    if (res.header !== this._resHeader) copyHeaders(res.header, this.responseHeader);
    if (res.trailer !== this._resTrailer) copyHeaders(res.trailer, this.responseTrailer);
  }
}

function isEmpty(h: Headers): boolean {
  for (const _ of h.keys()) return false;
  return true;
}

function copyHeaders(from: Headers, to: Headers): void {
  if (from === to) return;
  for (const k of [...to.keys()]) to.delete(k);
  from.forEach((v, k) => {
    to.append(k, v);
  });
}

/** `getPeer(ctx)`: the caller's address when served by grpc-js, else undefined. */
export function getPeer(ctx: HandlerContext): string | undefined {
  return ctx instanceof GrpcHandlerContext ? ctx.peer : undefined;
}

/** The grpc-js call behind a context (escape hatch), or undefined under other runtimes. */
export function getGrpcCall(ctx: HandlerContext): ServerSurfaceCall | undefined {
  return ctx instanceof GrpcHandlerContext ? ctx.call : undefined;
}

function contextFor(ctx: GrpcHandlerContext, req: UnaryRequest | StreamRequest): HandlerContext {
  if (req === ctx._req) return ctx;
  // An interceptor replaced the request: the handler must see its header/signal/contextValues.
  return Object.create(ctx, {
    requestHeader: { value: req.header },
    signal: { value: req.signal },
    values: { value: req.contextValues },
    service: { value: req.service },
  }) as HandlerContext;
}

function makeRequest<S extends boolean>(
  ctx: GrpcHandlerContext,
  stream: S,
  message: unknown,
): S extends true ? StreamRequest : UnaryRequest {
  const req = {
    stream,
    message,
    method: ctx.method,
    service: ctx.service,
    requestMethod: "POST",
    get url() {
      return ctx.url;
    },
    get signal() {
      return ctx.signal;
    },
    get header() {
      return ctx.requestHeader;
    },
    get contextValues() {
      return ctx.values;
    },
    [REQ]: ctx,
  };
  ctx._req = req;
  return req as unknown as S extends true ? StreamRequest : UnaryRequest;
}

function makeResponse(
  ctx: GrpcHandlerContext,
  stream: boolean,
  message: unknown,
): UnaryResponse | StreamResponse {
  const res = {
    stream,
    message,
    method: ctx.method,
    service: ctx.service,
    get header() {
      return ctx.responseHeader;
    },
    get trailer() {
      return ctx.responseTrailer;
    },
  };
  ctx._res = res;
  return res as unknown as UnaryResponse | StreamResponse;
}

/**
 * The deadline (epoch ms) of the call `req` belongs to, as its handler sees it (the client's, capped by
 * `maxDeadlineMs`); undefined when the call has none or `req` is not a call of this adapter.
 */
export function callDeadlineOf(req: UnaryRequest | StreamRequest): number | undefined {
  const deadline = (req as unknown as { [REQ]?: GrpcHandlerContext })[REQ]?.deadline;
  return deadline === undefined || !Number.isFinite(deadline) ? undefined : deadline;
}

function ctxOf(req: UnaryRequest | StreamRequest): GrpcHandlerContext {
  return (req as unknown as { [REQ]: GrpcHandlerContext })[REQ];
}

function normalizer(desc: DescMessage): (m: unknown) => Message {
  return (m) => (isMessage(m, desc) ? m : create(desc, m as MessageInitShape<DescMessage>));
}

async function* single<T>(value: T): AsyncIterable<T> {
  yield value;
}

async function first<T>(iter: AsyncIterable<T>, what: string): Promise<T> {
  for await (const m of iter) return m;
  throw new ConnectError(`protocol error: missing input message for ${what} method`, Code.Unimplemented);
}

function applyInterceptors(next: AnyFn, interceptors: readonly Interceptor[] | undefined): AnyFn | undefined {
  if (interceptors === undefined || interceptors.length === 0) return undefined;
  let fn = next;
  for (let i = interceptors.length - 1; i >= 0; i--) fn = (interceptors[i] as Interceptor)(fn);
  return fn;
}

function waitDrainOrCancel(call: ServerWritableStream<unknown, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off("drain", done);
      call.off("cancelled", done);
      resolve();
    };
    call.once("drain", done);
    call.once("cancelled", done);
  });
}

async function writeAll(
  call: ServerWritableStream<unknown, unknown>,
  ctx: GrpcHandlerContext,
  output: AsyncIterable<unknown>,
  norm: (m: unknown) => Message,
): Promise<void> {
  for await (const m of output) {
    if (call.cancelled) return;
    ctx._flushHeader();
    if (!call.write(norm(m))) await waitDrainOrCancel(call);
  }
}

/** The request messages of a client/bidi stream; an undecodable one ends the input with INVALID_ARGUMENT. */
function inputOf(call: NodeJS.ReadableStream & { iterator?: unknown }): AsyncIterable<unknown> {
  const readable = call as unknown as import("node:stream").Readable;
  return {
    async *[Symbol.asyncIterator]() {
      for await (const message of readable.iterator({ destroyOnReturn: false })) {
        if (message instanceof Undecodable) throw undecodableError(message);
        yield message;
      }
    },
  };
}

function unimplemented(service: DescService, method: DescMethod): AnyImpl {
  const message = `${service.typeName}.${method.name} is not implemented`;
  return () => {
    throw new ConnectError(message, Code.Unimplemented);
  };
}

/**
 * A request message whose bytes could not be decoded: answered INVALID_ARGUMENT (before the handler runs for
 * unary and server-streaming calls, when read for client and bidi streams). grpc-js would answer INTERNAL
 * for a throwing deserializer, and end a request stream under the handler.
 */
class Undecodable {
  constructor(readonly reason: string) {}
}

function undecodableError(request: Undecodable): ConnectError {
  return new ConnectError(
    `invalid request message: not a valid protobuf binary encoding (${request.reason})`,
    Code.InvalidArgument,
  );
}

function decodeOrMark(desc: DescMessage, bytes: Buffer): Message {
  try {
    return fromBinary(desc, bytes);
  } catch (err) {
    return new Undecodable(err instanceof Error ? err.message : String(err)) as unknown as Message;
  }
}

function adaptMethod(
  method: DescMethod,
  implFn: AnyImpl,
  opts: GrpcAdapterOptions,
): { def: MethodDefinition<Message, Message>; handler: unknown } {
  const inDesc = method.input;
  const outDesc = method.output;
  const norm = normalizer(outDesc);
  const def: MethodDefinition<Message, Message> = {
    path: `/${method.parent.typeName}/${method.name}`,
    requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
    responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
    requestSerialize: (m: Message) => asBuffer(toBinary(inDesc, m)),
    // Bytes that are no valid message answer INVALID_ARGUMENT (grpc-js would say INTERNAL for a throwing
    // deserializer), e.g. for the gateway's fast path, which passes request bytes on undecoded.
    requestDeserialize: (b: Buffer) => decodeOrMark(inDesc, b),
    responseSerialize: (m: Message) => asBuffer(toBinary(outDesc, m)),
    responseDeserialize: (b: Buffer) => fromBinary(outDesc, b),
    originalName: method.localName,
  };

  switch (method.methodKind) {
    case "unary": {
      const chain = applyInterceptors(async (req) => {
        const ctx = ctxOf(req);
        const out = norm(await implFn(req.message, contextFor(ctx, req)));
        return makeResponse(ctx, false, out);
      }, opts.interceptors);
      const run = async (ctx: GrpcHandlerContext, input: Message): Promise<Message> => {
        if (chain === undefined) return norm(await implFn(input, ctx));
        const res = await chain(makeRequest(ctx, false, input));
        ctx._adopt(res);
        return res.message as Message;
      };
      const handler: handleUnaryCall<Message, Message> = (call, callback) => {
        const ctx = new GrpcHandlerContext(call, method, opts);
        const request: Message | Undecodable = call.request;
        if (request instanceof Undecodable) {
          const status = ctx._errorStatus(undecodableError(request));
          ctx._finish();
          callback(status);
          return;
        }
        run(ctx, request).then(
          (out) => {
            ctx._flushHeader();
            const trailer = ctx._trailerMetadata();
            ctx._finish();
            callback(null, out, trailer);
          },
          (err: unknown) => {
            const status = ctx._errorStatus(err);
            ctx._finish();
            callback(status);
          },
        );
      };
      return { def, handler };
    }
    case "client_streaming": {
      const chain = applyInterceptors(async (req) => {
        const ctx = ctxOf(req);
        const out = norm(await implFn(req.message, contextFor(ctx, req)));
        return makeResponse(ctx, true, single(out));
      }, opts.interceptors);
      const run = async (ctx: GrpcHandlerContext, input: AsyncIterable<unknown>): Promise<Message> => {
        if (chain === undefined) return norm(await implFn(input, ctx));
        const res = await chain(makeRequest(ctx, true, input));
        ctx._adopt(res);
        return norm(await first(res.message as AsyncIterable<unknown>, "client-streaming response"));
      };
      const handler: handleClientStreamingCall<Message, Message> = (call, callback) => {
        const ctx = new GrpcHandlerContext(call, method, opts);
        run(ctx, inputOf(call)).then(
          (out) => {
            ctx._flushHeader();
            const trailer = ctx._trailerMetadata();
            ctx._finish();
            callback(null, out, trailer);
          },
          (err: unknown) => {
            const status = ctx._errorStatus(err);
            ctx._finish();
            callback(status);
          },
        );
      };
      return { def, handler };
    }
    case "server_streaming":
    case "bidi_streaming": {
      const isServer = method.methodKind === "server_streaming";
      const chain = applyInterceptors(async (req) => {
        const ctx = ctxOf(req);
        const c = contextFor(ctx, req);
        let input: unknown = req.message;
        if (isServer) {
          input = req === ctx._req ? (ctx.call as ServerWritableStream<Message, Message>).request : undefined;
          input ??= await first(req.message as AsyncIterable<unknown>, "server-streaming");
        }
        return makeResponse(ctx, true, implFn(input, c) as AsyncIterable<unknown>);
      }, opts.interceptors);
      const run = async (
        ctx: GrpcHandlerContext,
        call: ServerWritableStream<Message, Message>,
      ): Promise<void> => {
        const input = isServer
          ? call.request
          : inputOf(call as unknown as ServerDuplexStream<Message, Message>);
        if (chain === undefined) {
          await writeAll(call, ctx, implFn(input, ctx) as AsyncIterable<unknown>, norm);
          return;
        }
        const res = await chain(makeRequest(ctx, true, isServer ? single(input) : input));
        ctx._adopt(res);
        await writeAll(call, ctx, res.message as AsyncIterable<unknown>, norm);
      };
      const handler: handleServerStreamingCall<Message, Message> | handleBidiStreamingCall<Message, Message> =
        (call: ServerWritableStream<Message, Message>) => {
          const ctx = new GrpcHandlerContext(call, method, opts);
          const request: Message | Undecodable | undefined = isServer ? call.request : undefined;
          if (request instanceof Undecodable) {
            const status = ctx._errorStatus(undecodableError(request));
            ctx._finish();
            call.emit("error", status);
            return;
          }
          run(ctx, call).then(
            () => {
              ctx._flushHeader();
              const trailer = ctx._trailerMetadata();
              ctx._finish();
              if (!call.cancelled) call.end(trailer);
            },
            (err: unknown) => {
              const status = ctx._errorStatus(err);
              ctx._finish();
              if (!call.cancelled) call.emit("error", status);
            },
          );
        };
      return { def, handler };
    }
  }
}

/**
 * Adapt a protobuf-es service and its Connect-style implementation to grpc-js.
 * Methods missing from `impl` answer UNIMPLEMENTED (after the interceptors, as in connect-node).
 */
export function adaptService<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
  options: GrpcAdapterOptions = {},
): GrpcServiceAdapter {
  const definition: Record<string, MethodDefinition<Message, Message>> = {};
  const implementation: Record<string, unknown> = {};
  const implRecord = impl as Record<string, unknown>;
  for (const method of service.methods) {
    const fn = implRecord[method.localName];
    const implFn = typeof fn === "function" ? (fn.bind(impl) as AnyImpl) : unimplemented(service, method);
    const { def, handler } = adaptMethod(method, implFn, options);
    definition[method.name] = def;
    implementation[method.name] = handler;
  }
  return {
    service,
    definition: definition as ServiceDefinition,
    implementation: implementation as UntypedServiceImplementation,
  };
}
