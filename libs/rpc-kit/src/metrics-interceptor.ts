/**
 * Server-side RPC metrics: `rpc_server_requests_total` and `rpc_server_duration_seconds` by service, method
 * and gRPC code name (e.g. "OK", "NOT_FOUND"). Put it OUTSIDE the error interceptor so it sees the final
 * ConnectError codes. Streams are measured from start until the response stream ends.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { ProcessMetrics } from "@taskmaster/telemetry/metrics";

/** gRPC status name of a Connect code, e.g. Code.NotFound -> "NOT_FOUND". */
export function grpcCodeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  const name = Code[code] ?? "Unknown";
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

function codeOf(err: unknown): string {
  if (err instanceof Error && err.name === "AbortError") return grpcCodeName(Code.Canceled);
  return grpcCodeName(ConnectError.from(err).code);
}

export function createMetricsInterceptor(metrics: ProcessMetrics): Interceptor {
  return (next) => async (req) => {
    const start = process.hrtime.bigint();
    const labels = { service: req.service.typeName, method: req.method.name };
    const record = (code: string) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      metrics.rpcRequests.inc({ ...labels, code });
      metrics.rpcDuration.observe({ ...labels, code }, seconds);
    };
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (err) {
      record(codeOf(err));
      throw err;
    }
    if (!res.stream) {
      record("OK");
      return res;
    }
    const source = res.message;
    return {
      ...res,
      message: (async function* measured() {
        let code = grpcCodeName(Code.Canceled);
        try {
          yield* source;
          code = "OK";
        } catch (err) {
          code = codeOf(err);
          throw err;
        } finally {
          record(code);
        }
      })(),
    };
  };
}
