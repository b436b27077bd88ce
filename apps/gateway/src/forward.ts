/**
 * Generic forwarding: a Connect `ServiceImpl` for any service whose every method calls the same method on
 * an upstream typed client, passing on the deadline, cancellation and the headers services may trust.
 * One function for every RPC of every service, so a new RPC in the contract is forwarded without code.
 */
import type { DescService } from "@bufbuild/protobuf";
import type { CallOptions, Client, HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { CLIENT_IP_HEADER, USER_AGENT_HEADER } from "@taskmaster/rpc-kit/audit-context";
import { ACTOR_HEADER, IDENTITY_HEADER, type IdentitySigner } from "@taskmaster/rpc-kit/identity";
import { type Caller, type ClientInfo, callerKey, clientKey } from "./edge.js";
import { reclassifyParseError } from "./parse-errors.js";

/**
 * Request headers passed on to services (an allowlist). Identity headers (`x-taskmaster-*`), cookies,
 * `authorization` and the Access assertion are never taken from clients.
 */
const FORWARDED_HEADERS = ["traceparent", "tracestate", "x-request-id", "user-agent"] as const;

export interface ForwardOptions {
  /** Upper bound on any call's deadline (ms); calls without one get this. */
  readonly maxTimeoutMs: number;
  /**
   * Signs the verified caller as `x-taskmaster-identity` (audience = the target service). Without a signer
   * (development) only the plain `x-taskmaster-actor` is sent.
   */
  readonly signer?: IdentitySigner | undefined;
}

/**
 * The headers a forwarded call carries: the allowlisted request headers, the plain actor and (with a signer)
 * the gateway-signed identity for `service`. Shared with the unary fast path (fast-path.ts).
 */
export async function upstreamHeaders(
  service: string,
  requestHeader: Headers,
  caller: Caller | undefined,
  signer: IdentitySigner | undefined,
  client?: ClientInfo | undefined,
): Promise<Headers> {
  const headers = new Headers();
  for (const name of FORWARDED_HEADERS) {
    const value = requestHeader.get(name);
    if (value !== null) headers.set(name, value);
  }
  // The audit context of the original call: the client's address as the edge determined it (CF-Connecting-IP
  // only from trusted proxies) and its user agent (grpc-js sends its own `user-agent` upstream).
  if (client !== undefined && client.ip !== "") headers.set(CLIENT_IP_HEADER, client.ip);
  const userAgent = requestHeader.get("user-agent");
  if (userAgent !== null && userAgent !== "") headers.set(USER_AGENT_HEADER, userAgent.slice(0, 1000));
  if (caller !== undefined) {
    const p = caller.principal;
    // Plain actor for services that do not verify yet; a verifying service replaces it from the token.
    headers.set(ACTOR_HEADER, p.subject);
    if (signer !== undefined) {
      headers.set(
        IDENTITY_HEADER,
        await signer.sign(
          { subject: p.subject, type: p.type, roles: caller.roles, teams: p.groups, email: p.email },
          service,
        ),
      );
    }
  }
  return headers;
}

/** The deadline passed on (ms): the caller's (none or <= 0: the cap), at most `maxTimeoutMs`. */
export function upstreamTimeoutMs(timeout: number | undefined, maxTimeoutMs: number): number {
  return Math.min(timeout === undefined || timeout <= 0 ? maxTimeoutMs : timeout, maxTimeoutMs);
}

async function callOptions(
  service: string,
  ctx: HandlerContext,
  options: ForwardOptions,
): Promise<CallOptions> {
  return {
    signal: ctx.signal,
    headers: await upstreamHeaders(
      service,
      ctx.requestHeader,
      ctx.values.get(callerKey),
      options.signer,
      ctx.values.get(clientKey),
    ),
    timeoutMs: upstreamTimeoutMs(ctx.timeoutMs(), options.maxTimeoutMs),
  };
}

type AnyMethod = (input: unknown, options?: CallOptions) => unknown;

/**
 * The client's message stream, remembering why it failed: a client message that cannot be decoded makes
 * the upstream call end as CANCELLED, but the caller must hear the real reason (INVALID_ARGUMENT).
 */
function watchedInput(input: AsyncIterable<unknown>): { messages: AsyncIterable<unknown>; error?: unknown } {
  const source: { messages: AsyncIterable<unknown>; error?: unknown } = { messages: input };
  source.messages = (async function* () {
    try {
      yield* input;
    } catch (err) {
      reclassifyParseError(err);
      source.error = err;
      throw err;
    }
  })();
  return source;
}

export function forwardingImpl<S extends DescService>(
  service: S,
  client: Client<S>,
  options: ForwardOptions,
): ServiceImpl<S> {
  const impl: Record<string, unknown> = {};
  for (const method of service.methods) {
    const call = (client as unknown as Record<string, AnyMethod>)[method.localName] as AnyMethod;
    switch (method.methodKind) {
      case "unary":
        impl[method.localName] = async (input: unknown, ctx: HandlerContext) =>
          call(input, await callOptions(service.typeName, ctx, options));
        break;
      case "client_streaming":
        impl[method.localName] = async (input: AsyncIterable<unknown>, ctx: HandlerContext) => {
          const source = watchedInput(input);
          try {
            return await call(source.messages, await callOptions(service.typeName, ctx, options));
          } catch (err) {
            throw source.error ?? err;
          }
        };
        break;
      case "server_streaming":
        impl[method.localName] = async function* (input: unknown, ctx: HandlerContext) {
          yield* call(input, await callOptions(service.typeName, ctx, options)) as AsyncIterable<unknown>;
        };
        break;
      case "bidi_streaming":
        impl[method.localName] = async function* (input: AsyncIterable<unknown>, ctx: HandlerContext) {
          const source = watchedInput(input);
          try {
            yield* call(
              source.messages,
              await callOptions(service.typeName, ctx, options),
            ) as AsyncIterable<unknown>;
          } catch (err) {
            throw source.error ?? err;
          }
        };
        break;
    }
  }
  return impl as ServiceImpl<S>;
}
