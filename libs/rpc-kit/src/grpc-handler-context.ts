/**
 * The Connect `HandlerContext` of one grpc-js call (grpc-adapter.ts builds one per call) and the adapter's
 * options it reads. Lazy: request headers, response headers/trailers, the abort signal and context values
 * are created only when a handler or interceptor touches them.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type HandlerContext,
  type Interceptor,
  type StreamResponse,
  type UnaryResponse,
} from "@connectrpc/connect";
import type { Metadata, StatusObject } from "@grpc/grpc-js";
// Not re-exported from the package index; a type-only deep import (erased at run time).
import type { ServerSurfaceCall } from "@grpc/grpc-js/build/src/server-call.js";
import { headersFromMetadata, metadataFromHeaders, statusFromConnectError } from "./metadata.js";

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
