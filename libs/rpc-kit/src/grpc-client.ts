/**
 * A Connect `Transport` over a grpc-js channel (the reverse of grpc-adapter.ts), so
 * `createClient(Service, transport)` gives typed clients for service-to-service calls and tests: long-lived
 * grpc-js channels, Connect interceptors, deadlines from `timeoutMs`/`signal`, metadata from headers, and
 * errors decoded back into ConnectError including google.rpc details.
 */
import {
  type DescMessage,
  type DescMethod,
  type DescMethodStreaming,
  type DescMethodUnary,
  type DescService,
  fromBinary,
  type Message,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import {
  type Client,
  Code,
  ConnectError,
  type ContextValues,
  createClient,
  createContextValues,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { runStreamingCall, runUnaryCall } from "@connectrpc/connect/protocol";
import {
  type ChannelCredentials,
  type ChannelOptions,
  type CallOptions as GrpcCallOptions,
  Client as GrpcClient,
  credentials as grpcCredentials,
  type Metadata,
  type StatusObject,
} from "@grpc/grpc-js";
import { asBuffer, connectErrorFromStatus, headersFromMetadata, metadataFromHeaders } from "./metadata.js";
import { createClientTracingInterceptor } from "./tracing-interceptor.js";

type HeadersInit = ConstructorParameters<typeof Headers>[0];

export interface GrpcJsTransportOptions {
  /** `host:port` of the server. Ignored when `client` is given. */
  readonly address?: string;
  /** Reuse an existing grpc-js client/channel (share one per upstream). */
  readonly client?: GrpcClient;
  /** Default: insecure (private network). */
  readonly credentials?: ChannelCredentials;
  readonly channelOptions?: Partial<ChannelOptions>;
  /** Connect interceptors for every call (first = outermost). */
  readonly interceptors?: readonly Interceptor[];
  /** Deadline for calls that set no `timeoutMs`. */
  readonly defaultTimeoutMs?: number;
  /** Cap for every call's deadline. */
  readonly maxTimeoutMs?: number;
}

export interface GrpcJsTransport extends Transport {
  readonly client: GrpcClient;
  /** Close the channel (only when this transport created it). */
  close(): void;
}

interface Codec {
  readonly path: string;
  readonly serialize: (m: Message) => Buffer;
  readonly deserialize: (b: Buffer) => Message;
}

/** Codecs of the methods a transport has called, built on first use (one cache per transport). */
function codecCache(): (method: DescMethod) => Codec {
  const codecs = new Map<DescMethod, Codec>();
  return (method) => {
    let c = codecs.get(method);
    if (c === undefined) {
      const input = method.input;
      const output = method.output;
      c = {
        path: `/${method.parent.typeName}/${method.name}`,
        serialize: (m) => asBuffer(toBinary(input, m)),
        deserialize: (b) => fromBinary(output, b),
      };
      codecs.set(method, c);
    }
    return c;
  };
}

interface StatusEmitter {
  on(event: "status", listener: (status: StatusObject) => void): unknown;
  on(event: "metadata", listener: (metadata: Metadata) => void): unknown;
  cancel(): void;
}

async function* single<T>(value: T): AsyncIterable<T> {
  yield value;
}

async function firstOf<T>(iter: AsyncIterable<T>): Promise<T> {
  for await (const m of iter) return m;
  throw new ConnectError("missing request message", Code.InvalidArgument);
}

function waitForDrainOrEnd(call: NodeJS.EventEmitter, ended: () => boolean): Promise<void> {
  if (ended()) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      call.off("drain", done);
      call.off("status", done);
      resolve();
    };
    call.on("drain", done);
    call.on("status", done);
  });
}

/**
 * Reconnect backoff of the channels to our own services (under `channelOptions`, which win). grpc-js's
 * default starts at 1 s and grows 1.6x per failed attempt up to 120 s, so an upstream down for a few seconds
 * (a service restarted after a crash) is tried again only seconds after it serves again, and every call in
 * between fails UNAVAILABLE: a crash measured 13-17 s of outage behind the gateway. Capped at 1 s, a back
 * upstream is reconnected within a second; the attempts are cheap on a private network.
 */
export const RECONNECT_BACKOFF_OPTIONS: Partial<ChannelOptions> = {
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1_000,
};

/** Create a Connect Transport backed by grpc-js. */
export function createGrpcJsTransport(options: GrpcJsTransportOptions): GrpcJsTransport {
  const codecOf = codecCache();
  const owned = options.client === undefined;
  const client =
    options.client ??
    new GrpcClient(options.address ?? "", options.credentials ?? grpcCredentials.createInsecure(), {
      ...RECONNECT_BACKOFF_OPTIONS,
      ...options.channelOptions,
    });
  const baseUrl = `http://${options.address ?? "grpc"}`;
  // A CLIENT span per call (outermost), W3C traceparent injected into the metadata; a no-op while OTel is off.
  const interceptors = [
    createClientTracingInterceptor({ address: options.address }),
    ...(options.interceptors ?? []),
  ];

  const effectiveTimeout = (timeoutMs: number | undefined): number | undefined => {
    const t = timeoutMs ?? options.defaultTimeoutMs;
    if (t === undefined || options.maxTimeoutMs === undefined) return t ?? options.maxTimeoutMs;
    return Math.min(t, options.maxTimeoutMs);
  };
  const callOptions = (timeoutMs: number | undefined): GrpcCallOptions =>
    timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs };

  function observe(call: StatusEmitter, signal: AbortSignal) {
    const header = new Headers();
    const trailer = new Headers();
    let status: StatusObject | undefined;
    const onAbort = () => call.cancel();
    signal.addEventListener("abort", onAbort, { once: true });
    const statusPromise = new Promise<StatusObject>((resolve) => {
      call.on("status", (s) => {
        status = s;
        signal.removeEventListener("abort", onAbort);
        headersFromMetadata(s.metadata, trailer);
        resolve(s);
      });
    });
    const headerPromise = new Promise<void>((resolve) => {
      call.on("metadata", (m) => {
        headersFromMetadata(m, header);
        resolve();
      });
      void statusPromise.then(() => resolve());
    });
    return { header, trailer, statusPromise, headerPromise, ended: () => status !== undefined };
  }

  const transport: GrpcJsTransport = {
    client,
    close() {
      if (owned) client.close();
    },

    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const timeout = effectiveTimeout(timeoutMs);
      const codec = codecOf(method);
      return runUnaryCall<I, O>({
        interceptors,
        signal,
        timeoutMs: timeout,
        req: {
          stream: false,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: `${baseUrl}${codec.path}`,
          header: new Headers(header),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: (req: UnaryRequest<I, O>) =>
          new Promise<UnaryResponse<I, O>>((resolve, reject) => {
            let value: Message | undefined;
            const call = client.makeUnaryRequest<Message, Message>(
              codec.path,
              codec.serialize,
              codec.deserialize,
              req.message,
              metadataFromHeaders(req.header),
              callOptions(timeout),
              (_err, v) => {
                value = v ?? undefined;
              },
            );
            const o = observe(call, req.signal);
            void o.statusPromise.then((s) => {
              if (s.code !== 0) {
                reject(connectErrorFromStatus(s));
              } else if (value === undefined) {
                reject(new ConnectError("missing response message", Code.Internal));
              } else {
                resolve({
                  stream: false,
                  service: method.parent,
                  method,
                  header: o.header,
                  trailer: o.trailer,
                  message: value as UnaryResponse<I, O>["message"],
                });
              }
            });
          }),
      });
    },

    stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      const timeout = effectiveTimeout(timeoutMs);
      const codec = codecOf(method);
      return runStreamingCall<I, O>({
        interceptors,
        signal,
        timeoutMs: timeout,
        req: {
          stream: true,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: `${baseUrl}${codec.path}`,
          header: new Headers(header),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: async (req: StreamRequest<I, O>): Promise<StreamResponse<I, O>> => {
          const md = metadataFromHeaders(req.header);
          const opts = callOptions(timeout);
          const kind = method.methodKind;
          let output: AsyncIterable<Message>;
          let o: ReturnType<typeof observe>;

          const pump = async (call: NodeJS.WritableStream & StatusEmitter & NodeJS.EventEmitter) => {
            try {
              for await (const m of req.message) {
                if (o.ended()) return;
                if (!call.write(m as unknown as string)) await waitForDrainOrEnd(call, o.ended);
              }
              if (!o.ended()) call.end();
            } catch {
              call.cancel();
            }
          };

          if (kind === "server_streaming" || kind === "bidi_streaming") {
            const call =
              kind === "server_streaming"
                ? client.makeServerStreamRequest<Message, Message>(
                    codec.path,
                    codec.serialize,
                    codec.deserialize,
                    await firstOf(req.message),
                    md,
                    opts,
                  )
                : client.makeBidiStreamRequest<Message, Message>(
                    codec.path,
                    codec.serialize,
                    codec.deserialize,
                    md,
                    opts,
                  );
            o = observe(call, req.signal);
            // grpc-js also emits a failure as an 'error' event, maybe before read() iterates; unheard, that is an
            // uncaught exception (process crash). The status listener already carries the error.
            call.on("error", () => {});
            if (kind === "bidi_streaming") void pump(call as unknown as Parameters<typeof pump>[0]);
            const obs = o;
            output = (async function* read() {
              let complete = false;
              try {
                try {
                  for await (const m of call.iterator({ destroyOnReturn: false })) yield m as Message;
                } catch {
                  // The status below carries the real error.
                }
                const s = await obs.statusPromise;
                complete = true;
                if (s.code !== 0) throw connectErrorFromStatus(s);
              } finally {
                if (!complete && !obs.ended()) call.cancel();
              }
            })();
          } else {
            let value: Message | undefined;
            const call = client.makeClientStreamRequest<Message, Message>(
              codec.path,
              codec.serialize,
              codec.deserialize,
              md,
              opts,
              (_err, v) => {
                value = v ?? undefined;
              },
            );
            o = observe(call, req.signal);
            void pump(call as unknown as Parameters<typeof pump>[0]);
            const obs = o;
            output = (async function* read() {
              const s = await obs.statusPromise;
              if (s.code !== 0) throw connectErrorFromStatus(s);
              if (value === undefined) throw new ConnectError("missing response message", Code.Internal);
              yield* single(value);
            })();
          }
          await o.headerPromise;
          return {
            stream: true,
            service: method.parent,
            method,
            header: o.header,
            trailer: o.trailer,
            message: output as StreamResponse<I, O>["message"],
          };
        },
      });
    },
  };
  return transport;
}

/**
 * A typed Connect client over grpc-js: `createGrpcClient(TaskService, { address: "127.0.0.1:50051" })`
 * or over an existing transport (share one transport per upstream).
 */
export function createGrpcClient<S extends DescService>(
  service: S,
  transport: Transport | GrpcJsTransportOptions,
): Client<S> {
  const t = "unary" in transport ? transport : createGrpcJsTransport(transport);
  return createClient(service, t);
}
