/**
 * OpenTelemetry spans for RPCs (rpc.* semantic conventions) and W3C `traceparent`/`tracestate` propagation
 * through request headers (= grpc metadata): a SERVER span per handled call, parented by the caller's
 * context, and a CLIENT span per outgoing call with the context injected. Also OTel metrics
 * `rpc.server.duration` / `rpc.client.duration` (ms) beside the Prometheus ones.
 *
 * Both interceptors pass calls straight through while the SDK is not started (see
 * `@taskmaster/telemetry/register`), so they cost nothing when telemetry is off. Attribute values, events and
 * status messages set here (error messages included) are masked by the one masking policy when exported
 * (`@taskmaster/telemetry/span-masking`, wired into every exporter by `startTelemetry`), not here.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import {
  type Attributes,
  type Context,
  context,
  type Histogram,
  metrics,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from "@opentelemetry/api";
import { otelEnabled } from "@taskmaster/telemetry/otel-state";
import { grpcCodeName } from "./metrics-interceptor.js";

const SCOPE = "@taskmaster/rpc-kit";

const headerGetter: TextMapGetter<Headers> = {
  keys: (carrier) => [...carrier.keys()],
  get: (carrier, key) => carrier.get(key) ?? undefined,
};
const headerSetter: TextMapSetter<Headers> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/** RPC system recorded as `rpc.system`: "grpc" for grpc-js, "connect_rpc" for the gateway's Connect door. */
export type RpcSystem = "grpc" | "connect_rpc";

export interface TracingInterceptorOptions {
  readonly system?: RpcSystem | undefined;
  /** Client spans: `server.address` / `server.port` of the upstream (`host:port`). */
  readonly address?: string | undefined;
}

/** gRPC status code OK (Connect's Code enum has no member for it). */
const OK = 0;

function codeOf(err: unknown): number {
  if (err instanceof Error && err.name === "AbortError") return Code.Canceled;
  return ConnectError.from(err).code;
}

/** Server-side codes that are errors per the gRPC semantic conventions; every non-OK code is one for clients. */
const SERVER_ERROR_CODES = new Set<number>([
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Unimplemented,
  Code.Internal,
  Code.Unavailable,
  Code.DataLoss,
]);

function addressAttributes(address: string | undefined): Attributes {
  if (address === undefined) return {};
  const i = address.lastIndexOf(":");
  if (i <= 0) return { "server.address": address };
  const port = Number(address.slice(i + 1));
  return Number.isInteger(port)
    ? { "server.address": address.slice(0, i).replace(/^\[|\]$/g, ""), "server.port": port }
    : { "server.address": address };
}

/** Connect's code string, e.g. "not_found", "canceled". */
function connectCodeName(code: number): string {
  return (Code[code] ?? "Unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

/**
 * The duration histogram of one interceptor, created on its first use (the process's meter provider is
 * registered by the telemetry preload, possibly after the interceptor was built).
 */
function durationHistogram(kind: SpanKind): () => Histogram {
  let histogram: Histogram | undefined;
  return () => {
    histogram ??=
      kind === SpanKind.SERVER
        ? metrics.getMeter(SCOPE).createHistogram("rpc.server.duration", {
            description: "Duration of inbound RPCs.",
            unit: "ms",
          })
        : metrics.getMeter(SCOPE).createHistogram("rpc.client.duration", {
            description: "Duration of outbound RPCs.",
            unit: "ms",
          });
    return histogram;
  };
}

function traced(kind: SpanKind, options: TracingInterceptorOptions): Interceptor {
  const system = options.system ?? "grpc";
  const extra = kind === SpanKind.CLIENT ? addressAttributes(options.address) : {};
  const tracer = trace.getTracer(SCOPE);
  const histogram = durationHistogram(kind);
  return (next) => async (req) => {
    if (!otelEnabled()) return next(req);
    const service = req.service.typeName;
    const method = req.method.name;
    const attributes: Attributes = {
      "rpc.system": system,
      "rpc.service": service,
      "rpc.method": method,
      ...extra,
    };
    const parent: Context =
      kind === SpanKind.SERVER
        ? propagation.extract(context.active(), req.header, headerGetter)
        : context.active();
    const span = tracer.startSpan(`${service}/${method}`, { kind, attributes }, parent);
    const spanContext = trace.setSpan(parent, span);
    if (kind === SpanKind.CLIENT) propagation.inject(spanContext, req.header, headerSetter);
    const start = performance.now();
    const finish = (code: number, err?: unknown) =>
      end(span, kind, histogram(), system, attributes, start, code, err);
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await context.with(spanContext, () => next(req));
    } catch (err) {
      finish(codeOf(err), err);
      throw err;
    }
    if (!res.stream) {
      finish(OK);
      return res;
    }
    const source = res.message;
    return {
      ...res,
      message: (async function* spanned() {
        let code: number = Code.Canceled;
        let error: unknown;
        try {
          yield* source;
          code = OK;
        } catch (err) {
          code = codeOf(err);
          error = err;
          throw err;
        } finally {
          finish(code, error);
        }
      })(),
    };
  };
}

function end(
  span: Span,
  kind: SpanKind,
  histogram: Histogram,
  system: RpcSystem,
  attributes: Attributes,
  start: number,
  code: number,
  err: unknown,
): void {
  if (system === "grpc") span.setAttribute("rpc.grpc.status_code", code);
  else if (code !== OK) span.setAttribute("rpc.connect_rpc.error_code", connectCodeName(code));
  const isError = code !== OK && (kind === SpanKind.CLIENT || SERVER_ERROR_CODES.has(code));
  if (isError) {
    const message =
      err instanceof ConnectError ? err.rawMessage : err instanceof Error ? err.message : undefined;
    span.setStatus({ code: SpanStatusCode.ERROR, ...(message !== undefined && { message }) });
    span.setAttribute("error.type", grpcCodeName(code));
  }
  span.end();
  const metricAttributes: Attributes = {
    "rpc.system": system,
    "rpc.service": attributes["rpc.service"],
    "rpc.method": attributes["rpc.method"],
    ...(system === "grpc" && { "rpc.grpc.status_code": code }),
  };
  histogram.record(performance.now() - start, metricAttributes);
}

/** SERVER span per handled RPC, child of the caller's `traceparent`. Put it outermost. */
export function createServerTracingInterceptor(options: TracingInterceptorOptions = {}): Interceptor {
  return traced(SpanKind.SERVER, options);
}

/** CLIENT span per outgoing RPC; injects `traceparent`/`tracestate` into the request metadata. */
export function createClientTracingInterceptor(options: TracingInterceptorOptions = {}): Interceptor {
  return traced(SpanKind.CLIENT, options);
}
