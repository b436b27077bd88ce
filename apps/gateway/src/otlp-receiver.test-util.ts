/**
 * A real OTLP/HTTP trace receiver for tests: `POST /v1/traces` with `application/x-protobuf` bodies
 * (ExportTraceServiceRequest), decoded with @bufbuild/protobuf's wire reader by the field numbers of the
 * official opentelemetry-proto definitions (collector/trace/v1, trace/v1, common/v1, resource/v1).
 * Also `/v1/metrics` (resources decoded). `startOtlpGrpcReceiver` is the same over OTLP/gRPC
 * (`opentelemetry.proto.collector.{trace,metrics}.v1.*Service/Export`, same protobuf messages). No npm package compatible with @opentelemetry/api 1.10
 * ships decodable OTLP definitions any more (otlp-transformer >= 0.200 only encodes).
 */
import { createServer, type Server } from "node:http";
import { BinaryReader, type WireType } from "@bufbuild/protobuf/wire";
import {
  Server as GrpcServer,
  ServerCredentials,
  type ServerUnaryCall,
  type sendUnaryData,
} from "@grpc/grpc-js";

export type AttrValue = string | number | boolean | bigint | undefined;

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  /** 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly attributes: Readonly<Record<string, AttrValue>>;
  readonly statusCode: number;
  readonly scope: string;
  readonly resource: Readonly<Record<string, AttrValue>>;
}

export const SpanKind = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;

function each(bytes: Uint8Array, visit: (field: number, wire: WireType, r: BinaryReader) => boolean): void {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (!visit(field, wire, r)) r.skip(wire, field);
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function anyValue(bytes: Uint8Array): AttrValue {
  let value: AttrValue;
  each(bytes, (field, _wire, r) => {
    if (field === 1) value = r.string();
    else if (field === 2) value = r.bool();
    else if (field === 3) value = Number(r.int64());
    else if (field === 4) value = r.double();
    else return false;
    return true;
  });
  return value;
}

function keyValue(bytes: Uint8Array, into: Record<string, AttrValue>): void {
  let key = "";
  let value: AttrValue;
  each(bytes, (field, _wire, r) => {
    if (field === 1) key = r.string();
    else if (field === 2) value = anyValue(r.bytes());
    else return false;
    return true;
  });
  into[key] = value;
}

function resource(bytes: Uint8Array): Record<string, AttrValue> {
  const attrs: Record<string, AttrValue> = {};
  each(bytes, (field, _wire, r) => {
    if (field !== 1) return false;
    keyValue(r.bytes(), attrs);
    return true;
  });
  return attrs;
}

function span(bytes: Uint8Array, scope: string, res: Record<string, AttrValue>): ReceivedSpan {
  const s = { traceId: "", spanId: "", parentSpanId: "", name: "", kind: 0, statusCode: 0 };
  const attributes: Record<string, AttrValue> = {};
  each(bytes, (field, _wire, r) => {
    switch (field) {
      case 1:
        s.traceId = hex(r.bytes());
        return true;
      case 2:
        s.spanId = hex(r.bytes());
        return true;
      case 4:
        s.parentSpanId = hex(r.bytes());
        return true;
      case 5:
        s.name = r.string();
        return true;
      case 6:
        s.kind = r.int32();
        return true;
      case 9:
        keyValue(r.bytes(), attributes);
        return true;
      case 15:
        each(r.bytes(), (f, _w, sr) => {
          if (f !== 3) return false;
          s.statusCode = sr.int32();
          return true;
        });
        return true;
      default:
        return false;
    }
  });
  return { ...s, attributes, scope, resource: res };
}

/** Resources of an ExportMetricsServiceRequest / ExportTraceServiceRequest (field 1 -> field 1 of each). */
export function decodeResources(body: Uint8Array): Record<string, AttrValue>[] {
  const out: Record<string, AttrValue>[] = [];
  each(body, (field, _wire, r) => {
    if (field !== 1) return false;
    each(r.bytes(), (f, _w, rr) => {
      if (f !== 1) return false;
      out.push(resource(rr.bytes()));
      return true;
    });
    return true;
  });
  return out;
}

/** Decode an OTLP ExportTraceServiceRequest (protobuf) into flat spans. */
export function decodeExportTraceServiceRequest(body: Uint8Array): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  each(body, (field, _wire, r) => {
    if (field !== 1) return false; // resource_spans
    let res: Record<string, AttrValue> = {};
    const scopeSpans: Uint8Array[] = [];
    each(r.bytes(), (f, _w, rr) => {
      if (f === 1) res = resource(rr.bytes());
      else if (f === 2) scopeSpans.push(rr.bytes());
      else return false;
      return true;
    });
    for (const ss of scopeSpans) {
      let scope = "";
      const spans: Uint8Array[] = [];
      each(ss, (f, _w, rr) => {
        if (f === 1) {
          each(rr.bytes(), (sf, _sw, sr) => {
            if (sf !== 1) return false;
            scope = sr.string();
            return true;
          });
        } else if (f === 2) spans.push(rr.bytes());
        else return false;
        return true;
      });
      for (const sp of spans) out.push(span(sp, scope, res));
    }
    return true;
  });
  return out;
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>`: the OTEL_EXPORTER_OTLP_ENDPOINT to use. */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Requests seen per path (`/v1/traces`, `/v1/metrics`, or the gRPC method path) and their content types. */
  readonly requests: { path: string; contentType: string }[];
  /** `service.name` of every resource that exported metrics (ExportMetricsServiceRequest, protobuf). */
  readonly metricServices: Set<string>;
  /** Resolves with `predicate(spans)` once it is defined (checked after every export); rejects after `timeoutMs`. */
  waitFor<T>(predicate: (spans: readonly ReceivedSpan[]) => T | undefined, timeoutMs: number): Promise<T>;
  close(): Promise<void>;
}

type Kind = "traces" | "metrics";

/** What both transports share: decoding, the collected data and condition waiting. */
function receiverState() {
  const spans: ReceivedSpan[] = [];
  const requests: { path: string; contentType: string }[] = [];
  const metricServices = new Set<string>();
  const waiters = new Set<() => void>();
  const state = {
    spans,
    requests,
    metricServices,
    /** The receiver listening on `port` of 127.0.0.1, closed by `close`. */
    receiver(port: number, close: () => Promise<void>): OtlpReceiver {
      return {
        url: `http://127.0.0.1:${port}`,
        spans,
        requests,
        metricServices,
        waitFor: state.waitFor,
        close,
      };
    },
    accept(kind: Kind, path: string, contentType: string, body: Uint8Array) {
      requests.push({ path, contentType });
      if (kind === "traces") spans.push(...decodeExportTraceServiceRequest(body));
      else for (const r of decodeResources(body)) metricServices.add(String(r["service.name"]));
      for (const w of waiters) w();
    },
    waitFor<T>(predicate: (spans: readonly ReceivedSpan[]) => T | undefined, timeoutMs: number): Promise<T> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const v = predicate(spans);
          if (v === undefined) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(v);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`OTLP receiver: condition not met within ${timeoutMs} ms (${spans.length} spans)`),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
  return state;
}

/** OTLP/HTTP receiver (protobuf bodies). */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const state = receiverState();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "";
      const contentType = req.headers["content-type"] ?? "";
      const protobuf = contentType.startsWith("application/x-protobuf");
      const kind: Kind | undefined =
        path === "/v1/traces" ? "traces" : path === "/v1/metrics" ? "metrics" : undefined;
      if (!protobuf || kind === undefined) {
        state.requests.push({ path, contentType });
        res.writeHead(415).end();
        return;
      }
      // An empty Export*ServiceResponse (no partial_success) is an empty body.
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
      state.accept(kind, path, contentType, Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return state.receiver(
    port,
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
}

/** OTLP/gRPC receiver: the collector's TraceService and MetricsService `Export` methods. */
export async function startOtlpGrpcReceiver(): Promise<OtlpReceiver> {
  const state = receiverState();
  const server = new GrpcServer();
  const raw = (b: Buffer) => b;
  for (const kind of ["traces", "metrics"] as const) {
    const service = kind === "traces" ? "trace.v1.TraceService" : "metrics.v1.MetricsService";
    const path = `/opentelemetry.proto.collector.${service}/Export`;
    server.addService(
      {
        Export: {
          path,
          requestStream: false,
          responseStream: false,
          requestSerialize: raw,
          requestDeserialize: raw,
          responseSerialize: raw,
          responseDeserialize: raw,
        },
      },
      {
        Export: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
          callback(null, Buffer.alloc(0));
          state.accept(kind, path, "application/grpc", call.request);
        },
      },
    );
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return state.receiver(port, () => new Promise((resolve) => server.tryShutdown(() => resolve())));
}
