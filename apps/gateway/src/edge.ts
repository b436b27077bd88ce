/**
 * The edge interceptor: for every call, before anything is forwarded,
 *   1. concurrency limits (total and per connection),
 *   2. token bucket per client IP,
 *   3. authentication (authn.ts),
 *   4. token bucket per identity,
 *   5. authorization (authz.ts, the role each RPC needs),
 * then the verified caller is put in the context for forward.ts to sign. The checks are one plain function
 * (`createEdgeChecks`) shared by the interceptor (router) and the unary fast path (fast-path.ts), so both
 * count against the same buckets and limits. Refusals are a bare
 * UNAUTHENTICATED / PERMISSION_DENIED / RESOURCE_EXHAUSTED (+ google.rpc.RetryInfo) and a security event.
 *
 * The client IP is the socket's peer address, or `CF-Connecting-IP` when the peer is a trusted proxy (the
 * local cloudflared, by the configured CIDR list) — a header from anyone else is ignored.
 */
import type { IncomingHttpHeaders } from "node:http";
import { BlockList, isIPv4, isIPv6 } from "node:net";
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import { ResourceExhaustedError } from "@taskmaster/rpc-kit/errors";
import { type Authenticator, AuthFailure, type Principal } from "./authn.js";
import { allows, type Role, type RpcPolicyOptions, requiredRole, rpcPath } from "./authz.js";
import { type BucketConfig, createRateLimiter } from "./rate-limit.js";
import type { SecurityEvents } from "./security-events.js";

/** Where a call came from (set per HTTP request by the adapter's `contextValues`). */
export interface ClientInfo {
  readonly ip: string;
  /** The peer is a trusted proxy (cloudflared). */
  readonly viaProxy: boolean;
  /** The connection (per-connection limits). */
  readonly connection: object;
}

/** The verified caller of this call (after the edge interceptor). */
export interface Caller {
  readonly principal: Principal;
  readonly roles: readonly Role[];
}

export const clientKey = createContextKey<ClientInfo | undefined>(undefined, { description: "client" });
export const callerKey = createContextKey<Caller | undefined>(undefined, { description: "caller" });

function stripV4Mapped(ip: string): string {
  return ip.startsWith("::ffff:") && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}

/** A BlockList from `10.0.0.0/8`, `::1/128`, `127.0.0.1` entries. Throws on a bad entry. */
export function cidrList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const raw of entries) {
    const [addr = "", bits] = raw.trim().split("/");
    const type = isIPv4(addr) ? "ipv4" : isIPv6(addr) ? "ipv6" : undefined;
    if (type === undefined) throw new Error(`not an IP address or CIDR: ${raw}`);
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}

function contains(list: BlockList, ip: string): boolean {
  if (isIPv4(ip)) return list.check(ip, "ipv4");
  if (isIPv6(ip)) return list.check(ip, "ipv6");
  return false;
}

/** What we need of a Node HTTP/1.1 or HTTP/2 request. */
export interface NodeRequestLike {
  readonly socket: { readonly remoteAddress?: string | undefined };
  readonly headers: IncomingHttpHeaders;
  /** HTTP/2 (compat API): the stream, whose session is the connection. */
  readonly stream?: { readonly session?: object | undefined } | undefined;
}

export function clientInfo(req: NodeRequestLike, trustedProxies: BlockList): ClientInfo {
  const peer = stripV4Mapped(req.socket.remoteAddress ?? "");
  let ip = peer;
  const viaProxy = contains(trustedProxies, peer);
  if (viaProxy) {
    const forwarded = req.headers["cf-connecting-ip"];
    const value = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.trim();
    if (value !== undefined && (isIPv4(value) || isIPv6(value))) ip = stripV4Mapped(value);
  }
  // HTTP/2: `req.socket` is a per-stream proxy, the session is the connection.
  return { ip, viaProxy, connection: req.stream?.session ?? req.socket };
}

export interface EdgeLimits {
  readonly perIdentity: BucketConfig;
  readonly perIp: BucketConfig;
  /** Calls in flight through the whole gateway. */
  readonly maxInFlight: number;
  /** Calls in flight on one connection (HTTP/2 streams; HTTP/1.1 is one at a time anyway). */
  readonly maxInFlightPerConnection: number;
}

export interface EdgeOptions {
  readonly authenticator: Authenticator;
  readonly resolveRoles: (p: Principal) => Role[];
  readonly events: SecurityEvents;
  readonly limits: EdgeLimits;
  readonly policy?: RpcPolicyOptions | undefined;
}

/** RESOURCE_EXHAUSTED with ErrorInfo RATE_LIMITED and RetryInfo (the domain error of rpc-kit). */
function exhausted(retryAfterMs: number): ConnectError {
  return new ResourceExhaustedError(Math.max(1, retryAfterMs)).toConnectError();
}

/** One call as the edge sees it (from a Connect request or the unary fast path). */
export interface EdgeCall {
  readonly client: ClientInfo | undefined;
  readonly method: DescMethod;
  readonly header: Headers;
  /** Aborted when the caller goes away: frees the call's slot at once. */
  readonly signal: AbortSignal;
}

/** An admitted call: who is calling, and its concurrency slot (release when the call is over; idempotent). */
export interface Admission {
  readonly caller: Caller;
  readonly release: () => void;
}

/**
 * The edge checks as a plain function, shared by the interceptor (Connect router) and the unary fast path
 * (fast-path.ts), so both see the same buckets, counters and caches. Throws the refusal as a ConnectError.
 */
export interface EdgeChecks {
  admit(call: EdgeCall): Promise<Admission>;
}

export function createEdgeChecks(options: EdgeOptions): EdgeChecks {
  const { events, limits } = options;
  const byIp = createRateLimiter(limits.perIp);
  const byIdentity = createRateLimiter(limits.perIdentity);
  const perConnection = new WeakMap<object, number>();
  let inFlight = 0;

  return {
    async admit(call) {
      const ip = call.client?.ip ?? "";
      const rpc = rpcPath(call.method);
      const connection = call.client?.connection;

      // 1. Concurrency.
      const onConnection = connection === undefined ? 0 : (perConnection.get(connection) ?? 0);
      if (inFlight >= limits.maxInFlight || onConnection >= limits.maxInFlightPerConnection) {
        events.record({ kind: "rate_limited", reason: "concurrency", ip, rpc });
        throw exhausted(1_000);
      }
      inFlight++;
      if (connection !== undefined) perConnection.set(connection, onConnection + 1);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        call.signal.removeEventListener("abort", release);
        inFlight--;
        if (connection !== undefined) perConnection.set(connection, (perConnection.get(connection) ?? 1) - 1);
      };
      // A caller that goes away frees its slot at once, even while the upstream call is still winding down.
      call.signal.addEventListener("abort", release, { once: true });
      try {
        // 2. Per-IP bucket (before authentication: bad tokens cost the attacker too).
        const ipWait = byIp.take(`ip:${ip}`);
        if (ipWait > 0) {
          events.record({ kind: "rate_limited", reason: "ip", ip, rpc });
          throw exhausted(ipWait);
        }
        // 3. Authentication.
        let principal: Principal;
        try {
          principal = await options.authenticator.authenticate(call.header);
        } catch (err) {
          const reason = err instanceof AuthFailure ? err.reason : "internal";
          events.record({ kind: "authentication_failed", reason, ip, rpc });
          throw new ConnectError("unauthenticated", Code.Unauthenticated);
        }
        // 4. Per-identity bucket.
        const idWait = byIdentity.take(`${principal.type}:${principal.subject}`);
        if (idWait > 0) {
          events.record({ kind: "rate_limited", reason: "identity", identity: principal.subject, ip, rpc });
          throw exhausted(idWait);
        }
        // 5. Authorization.
        const roles = options.resolveRoles(principal);
        if (!allows(roles, requiredRole(call.method, options.policy))) {
          events.record({ kind: "permission_denied", reason: "role", identity: principal.subject, ip, rpc });
          throw new ConnectError("permission denied", Code.PermissionDenied);
        }
        return { caller: { principal, roles }, release };
      } catch (err) {
        release();
        throw err;
      }
    },
  };
}

/** The edge checks as a Connect interceptor (every call through the router). */
export function createEdgeInterceptor(edge: EdgeOptions | EdgeChecks): Interceptor {
  const checks = "admit" in edge ? edge : createEdgeChecks(edge);
  return (next) => async (req) => {
    const { caller, release } = await checks.admit({
      client: req.contextValues.get(clientKey),
      method: req.method,
      header: req.header,
      signal: req.signal,
    });
    let streaming = false;
    try {
      req.contextValues.set(callerKey, caller);
      const res = await next(req);
      if (!res.stream) return res;
      streaming = true;
      const source = res.message;
      return {
        ...res,
        message: (async function* releaseAfterStream() {
          try {
            yield* source;
          } finally {
            release();
          }
        })(),
      };
    } finally {
      if (!streaming) release();
    }
  };
}
