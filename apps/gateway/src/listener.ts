/**
 * The gateway's one listener: HTTP/2 (native gRPC, Connect, gRPC-Web) and HTTP/1.1 (Connect, gRPC-Web) on
 * the same port, with the same abuse limits for both.
 *
 * - With TLS: a `tls.Server` offering ALPN `h2` and `http/1.1`; each connection goes to the HTTP/2 or the
 *   HTTP/1.1 server by the negotiated protocol (what `http2.createSecureServer({ allowHTTP1 })` does, but
 *   with Node's HTTP/1.1 server and its timeouts, so both listeners share one code path).
 * - Without TLS (cloudflared or a private network, cleartext): a `net.Server` that reads the first bytes
 *   of each connection; the HTTP/2 connection preface (`PRI * HTTP/2.0`, "prior knowledge" h2c as gRPC
 *   clients send it) goes to the HTTP/2 server, anything else to the HTTP/1.1 server.
 *
 * Limits: open connections (`maxConnections`, both); HTTP/1.1 headers/request/keep-alive timeouts (Node's
 * server); HTTP/2 streams per connection (`maxConcurrentStreams`), header list size, the request half of a
 * stream must arrive within the request timeout (slow bodies), idle sessions close after the keep-alive
 * timeout, and a connection that sends nothing at all is dropped after the headers timeout.
 */
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from "node:http";
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  constants as h2,
  type ServerHttp2Stream,
} from "node:http2";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";

export type AnyRequest = IncomingMessage | Http2ServerRequest;
export type AnyResponse = ServerResponse | Http2ServerResponse;

/** Both response kinds share `writeHead`/`setHeader`/`end`; TypeScript cannot call the union's overloads. */
export function asResponse(res: AnyResponse): ServerResponse {
  return res as ServerResponse;
}

export interface ListenerOptions {
  /** PEM certificate chain and key: TLS with ALPN h2 + http/1.1. Absent: cleartext (h2c prior knowledge + HTTP/1.1). */
  readonly tls?: { readonly cert: string; readonly key: string } | undefined;
  readonly requestTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly checkIntervalMs: number;
  readonly maxConnections: number;
  /** HTTP/2 streams one connection may have open at once. */
  readonly maxConcurrentStreams: number;
  readonly maxHeaderBytes: number;
  readonly onRequest: (req: AnyRequest, res: AnyResponse) => void;
  /** A malformed or too slow request/connection (for security events). */
  readonly onRefused: (reason: "slow_request" | "malformed_http", ip: string | undefined) => void;
}

export interface Listener {
  /** Not yet listening: `listen(port, host)`, `address()`, `close()` as usual. */
  readonly server: Server;
  /** HTTP/1.1 keep-alive connections without a request and HTTP/2 sessions (GOAWAY, streams finish). */
  closeIdleConnections(): void;
  /** Every connection, at once. */
  closeAllConnections(): void;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** Bytes enough to tell the HTTP/2 preface from an HTTP/1.1 request line ("PRI" is no HTTP/1.1 method). */
const SNIFF_BYTES = 3;

export function createListener(o: ListenerOptions): Listener {
  const http1 = createHttp1Server({
    requestTimeout: o.requestTimeoutMs,
    headersTimeout: o.headersTimeoutMs,
    keepAliveTimeout: o.keepAliveTimeoutMs,
    connectionsCheckingInterval: o.checkIntervalMs,
    maxHeaderSize: o.maxHeaderBytes,
  });
  http1.on("request", o.onRequest);
  // A malformed request line or headers: answer 400 and drop the connection, never crash.
  http1.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
    const timeout = err.code === "ERR_HTTP_REQUEST_TIMEOUT";
    const status = timeout
      ? "408 Request Timeout"
      : err.code === "HPE_HEADER_OVERFLOW"
        ? "431 Request Header Fields Too Large"
        : "400 Bad Request";
    if (err.code !== "ECONNRESET")
      o.onRefused(timeout ? "slow_request" : "malformed_http", socket.remoteAddress);
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    else socket.destroy();
  });

  const http2 = createHttp2Server({
    maxSessionInvalidFrames: 100,
    maxSessionRejectedStreams: 100,
    settings: {
      maxConcurrentStreams: o.maxConcurrentStreams,
      maxHeaderListSize: o.maxHeaderBytes,
      enablePush: false,
    },
  });
  http2.on("request", o.onRequest);
  const sessions = new Set<Http2Session>();
  http2.on("session", (session: Http2Session) => {
    sessions.add(session);
    let open = 0;
    session.on("close", () => sessions.delete(session));
    session.on("error", () => session.destroy());
    // Idle: no stream open and nothing on the wire for the keep-alive time. Streams in progress (a watch
    // with no events) are not idle; their request half is bounded below.
    session.setTimeout(o.keepAliveTimeoutMs, () => {
      if (open === 0) session.close();
    });
    session.on("stream", (stream: ServerHttp2Stream) => {
      open++;
      // The whole request half must arrive within the request timeout, as for HTTP/1.1.
      const timer = setTimeout(() => {
        if (stream.readableEnded || stream.closed) return;
        o.onRefused("slow_request", session.socket?.remoteAddress);
        stream.close(h2.NGHTTP2_CANCEL);
      }, o.requestTimeoutMs);
      timer.unref();
      stream.once("close", () => {
        open--;
        clearTimeout(timer);
      });
    });
  });
  http2.on("sessionError", (_err: Error, session: Http2Session) => {
    o.onRefused("malformed_http", session.socket?.remoteAddress);
  });

  let server: Server;
  if (o.tls === undefined) {
    server = createNetServer({ noDelay: true }, (socket) => dispatchCleartext(socket));
  } else {
    server = createTlsServer(
      {
        cert: o.tls.cert,
        key: o.tls.key,
        minVersion: "TLSv1.2",
        ALPNProtocols: ["h2", "http/1.1"],
        handshakeTimeout: o.headersTimeoutMs,
      },
      (socket: TLSSocket) => {
        socket.setNoDelay(true);
        (socket.alpnProtocol === "h2" ? http2 : http1).emit("connection", socket);
      },
    );
    server.on("tlsClientError", (_err: Error, socket: TLSSocket) => {
      o.onRefused("malformed_http", socket.remoteAddress);
    });
  }
  server.maxConnections = o.maxConnections;
  // Node's HTTP/1.1 server starts its timeout checks (headers/request timeouts) when it is listening;
  // it never listens itself, so it follows the outer server.
  server.on("listening", () => http1.emit("listening"));
  // Like `http.Server#close`: stop accepting, and close idle connections (HTTP/1.1 keep-alive without a
  // request, HTTP/2 sessions gracefully) so the callback fires once the calls in progress are done.
  const closeListener = server.close.bind(server);
  server.close = (callback?: (err?: Error) => void) => {
    closeListener(callback);
    http1.close();
    for (const session of sessions) session.close();
    return server;
  };

  /** Reads the first bytes, then hands the socket over; nothing at all within the headers timeout: dropped. */
  function dispatchCleartext(socket: Socket): void {
    const chunks: Buffer[] = [];
    socket.setTimeout(o.headersTimeoutMs, () => {
      o.onRefused("slow_request", socket.remoteAddress);
      socket.destroy();
    });
    socket.on("error", () => socket.destroy());
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      const head = chunks.length === 1 ? chunk : Buffer.concat(chunks);
      const n = Math.min(head.length, SNIFF_BYTES);
      const maybeH2 = head.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (maybeH2 && head.length < SNIFF_BYTES) return; // wait for more
      socket.off("data", onData);
      socket.setTimeout(0);
      socket.pause();
      if (maybeH2) {
        // Node's HTTP/2 session takes bytes already read from the socket's buffer.
        socket.unshift(head);
        http2.emit("connection", socket);
      } else {
        // Node's HTTP/1.1 server reads the socket's handle directly (an unshifted buffer would never be
        // parsed): hand the socket over, then feed it the bytes we already took.
        http1.emit("connection", socket);
        socket.emit("data", head);
        socket.resume();
      }
    };
    socket.on("data", onData);
  }

  return {
    server,
    closeIdleConnections() {
      http1.closeIdleConnections();
      for (const session of sessions) session.close();
    },
    closeAllConnections() {
      http1.closeAllConnections();
      for (const session of sessions) session.destroy();
    },
  };
}
