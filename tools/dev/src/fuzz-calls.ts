/**
 * One fuzz call in one protocol, with its own deadline, reduced to the outcome's code name (`OK`,
 * `INVALID_ARGUMENT`, ...), `RESET` for a stream or connection reset without a status, or `HUNG` when no
 * status came within the deadline plus a second. Protocols: native gRPC over HTTP/2 (to a service or the
 * gateway), gRPC-Web and Connect JSON over HTTP/1.1 (the gateway). Raw frames, so malformed ones can be sent.
 */
import { type ClientHttp2Session, connect, constants } from "node:http2";
import { status } from "@grpc/grpc-js";

export type Protocol = "grpc" | "grpc-web" | "connect-json";

export interface FuzzCall {
  readonly path: string;
  readonly streaming: boolean;
  /** Body bytes as framed for the protocol. */
  readonly body: Uint8Array;
  readonly deadlineMs: number;
  /** Extra request headers (a signed identity for calls straight to a service). */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

const SLACK_MS = 1_000;

/** A 5-byte length-prefixed frame (gRPC, gRPC-Web, Connect streaming). */
export function envelope(message: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

const grpcName = (code: string | number | undefined): string =>
  code === undefined || code === "" ? "NO_STATUS" : (status[Number(code)] ?? `CODE_${String(code)}`);

/** HTTP/2 sessions per origin, reused across calls. */
export function createGrpcCaller(origin: string): {
  call(c: FuzzCall): Promise<string>;
  close(): void;
} {
  let session: ClientHttp2Session | undefined;
  const open = () => {
    if (session === undefined || session.closed || session.destroyed) {
      const s = connect(origin);
      s.on("error", () => {});
      s.on("close", () => {
        if (session === s) session = undefined;
      });
      session = s;
    }
    return session;
  };
  return {
    call: (c) =>
      new Promise<string>((resolve) => {
        let done = false;
        const finish = (code: string) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve(code);
        };
        const timer = setTimeout(() => {
          stream.close(constants.NGHTTP2_CANCEL);
          finish("HUNG");
        }, c.deadlineMs + SLACK_MS);
        const stream = open().request({
          ":method": "POST",
          ":path": c.path,
          "content-type": "application/grpc",
          te: "trailers",
          "grpc-timeout": `${c.deadlineMs}m`,
          ...c.headers,
        });
        let headerStatus: string | undefined;
        stream.on("response", (headers) => {
          const s = headers["grpc-status"];
          if (s !== undefined) headerStatus = String(s);
        });
        stream.on("trailers", (trailers) => finish(grpcName(String(trailers["grpc-status"] ?? ""))));
        stream.on("data", () => {});
        stream.on("end", () => finish(headerStatus === undefined ? "NO_STATUS" : grpcName(headerStatus)));
        stream.on("error", () => finish("RESET"));
        stream.on("close", () => finish(headerStatus === undefined ? "RESET" : grpcName(headerStatus)));
        stream.end(c.body);
      }),
    close: () => session?.close(),
  };
}

async function fetchWithDeadline(
  url: string,
  init: RequestInit,
  deadlineMs: number,
): Promise<Response | "HUNG" | "RESET"> {
  const abort = AbortSignal.timeout(deadlineMs + SLACK_MS);
  try {
    return await fetch(url, { ...init, signal: abort });
  } catch {
    return abort.aborted ? "HUNG" : "RESET";
  }
}

async function bodyWithDeadline(res: Response): Promise<Uint8Array | "HUNG" | "RESET"> {
  try {
    return new Uint8Array(await res.arrayBuffer());
  } catch (error) {
    return (error as Error).name === "TimeoutError" || (error as Error).name === "AbortError"
      ? "HUNG"
      : "RESET";
  }
}

/** The frames of a length-prefixed body: [flags, payload][]. */
function frames(body: Uint8Array): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = [];
  let at = 0;
  while (at + 5 <= body.length) {
    const len = new DataView(body.buffer, body.byteOffset + at + 1, 4).getUint32(0);
    out.push([body[at] ?? 0, body.subarray(at + 5, at + 5 + len)]);
    at += 5 + len;
  }
  return out;
}

/** gRPC-Web (binary) over HTTP/1.1. */
export async function grpcWebCall(baseUrl: string, c: FuzzCall): Promise<string> {
  const res = await fetchWithDeadline(
    baseUrl + c.path,
    {
      method: "POST",
      headers: {
        "content-type": "application/grpc-web+proto",
        "x-grpc-web": "1",
        "grpc-timeout": `${c.deadlineMs}m`,
      },
      body: c.body,
    },
    c.deadlineMs,
  );
  if (typeof res === "string") return res;
  const headerStatus = res.headers.get("grpc-status");
  const body = await bodyWithDeadline(res);
  if (typeof body === "string") return body;
  if (headerStatus !== null) return grpcName(headerStatus);
  const trailer = frames(body).find(([flags]) => (flags & 0x80) !== 0);
  if (trailer === undefined) return res.status === 200 ? "NO_STATUS" : `HTTP_${res.status}`;
  const m = /grpc-status:\s*(\d+)/i.exec(new TextDecoder().decode(trailer[1]));
  return grpcName(m?.[1]);
}

const connectName = (code: unknown) =>
  typeof code === "string" && code !== "" ? code.toUpperCase() : "NO_STATUS";

/** Connect JSON over HTTP/1.1: unary as plain JSON, streaming as `application/connect+json` frames. */
export async function connectJsonCall(baseUrl: string, c: FuzzCall): Promise<string> {
  const res = await fetchWithDeadline(
    baseUrl + c.path,
    {
      method: "POST",
      headers: {
        "content-type": c.streaming ? "application/connect+json" : "application/json",
        "connect-protocol-version": "1",
        "connect-timeout-ms": String(c.deadlineMs),
      },
      body: c.body,
    },
    c.deadlineMs,
  );
  if (typeof res === "string") return res;
  const body = await bodyWithDeadline(res);
  if (typeof body === "string") return body;
  const parse = (bytes: Uint8Array): { code?: unknown; error?: { code?: unknown } } | undefined => {
    try {
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return undefined;
    }
  };
  if (!c.streaming || (res.headers.get("content-type") ?? "").startsWith("application/json")) {
    if (res.status === 200) return "OK";
    return connectName(parse(body)?.code) === "NO_STATUS"
      ? `HTTP_${res.status}`
      : connectName(parse(body)?.code);
  }
  const end = frames(body).find(([flags]) => (flags & 0x02) !== 0);
  if (end === undefined) return "NO_STATUS";
  const error = parse(end[1])?.error;
  return error === undefined ? "OK" : connectName(error.code);
}
