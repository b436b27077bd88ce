/**
 * The client's interceptors, outermost first: typed errors, request ids for creates, authentication headers,
 * retries with backoff on UNAVAILABLE (honouring the server's RetryInfo).
 */
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { TaskmasterError, toTaskmasterError } from "./errors.js";

/** Every failure, unary or mid-stream, surfaces as a {@link TaskmasterError}. */
export const typedErrors: Interceptor = (next) => async (req) => {
  try {
    const res = await next(req);
    if (!res.stream) return res;
    return { ...res, message: rethrowTyped(res.message) } as StreamResponse;
  } catch (error) {
    throw toTaskmasterError(error);
  }
};

async function* rethrowTyped<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (error) {
    throw toTaskmasterError(error);
  }
}

/**
 * Gives every request that has an empty `request_id` field (creates, transitions, claims: the contract's
 * idempotency key) a fresh UUID, once, before any retry: a retried write is then applied at most once.
 */
export const requestIds: Interceptor = (next) => (req) => {
  if (!req.stream && req.method.input.field.requestId?.fieldKind === "scalar") {
    const message = req.message as { requestId?: string };
    if (message.requestId === "" || message.requestId === undefined)
      message.requestId = globalThis.crypto.randomUUID();
  }
  return next(req);
};

export interface Credentials {
  /**
   * Development only, calling a service port directly: the caller's subject (and roles) as plain
   * `x-taskmaster-actor` / `x-taskmaster-roles` headers. Services that verify gateway-signed identities
   * drop these headers; the gateway replaces them.
   */
  readonly actor?: string | undefined;
  readonly roles?: readonly string[] | undefined;
  readonly token?: string | undefined;
  readonly serviceToken?: { readonly clientId: string; readonly clientSecret: string } | undefined;
}

/** `Authorization: Bearer` for a token; Cloudflare Access service-token headers for a service token. */
export function authHeaders(credentials: Credentials | undefined): Interceptor {
  return (next) => (req) => {
    if (credentials?.actor) req.header.set("x-taskmaster-actor", credentials.actor);
    if (credentials?.roles?.length) req.header.set("x-taskmaster-roles", credentials.roles.join(","));
    if (credentials?.token) req.header.set("authorization", `Bearer ${credentials.token}`);
    if (credentials?.serviceToken) {
      req.header.set("cf-access-client-id", credentials.serviceToken.clientId);
      req.header.set("cf-access-client-secret", credentials.serviceToken.clientSecret);
    }
    return next(req);
  };
}

export interface RetryOptions {
  /** Attempts in total, first one included (default 4; 1 turns retries off). */
  readonly maxAttempts?: number;
  /** First backoff (default 100 ms), doubled per attempt, with full jitter. */
  readonly initialBackoffMs?: number;
  /** Longest wait between attempts (default 5 s), also the cap on a server's RetryInfo delay. */
  readonly maxBackoffMs?: number;
  /** Told before each wait: the attempt that failed, the wait chosen and whether it came from RetryInfo. */
  readonly onRetry?: (info: { attempt: number; delayMs: number; hinted: boolean; error: unknown }) => void;
}

/** Retries unary calls that failed with UNAVAILABLE, waiting RetryInfo's delay when given, else backoff. */
export function retries(options: RetryOptions = {}): Interceptor {
  const maxAttempts = Math.max(1, options.maxAttempts ?? 4);
  const initial = options.initialBackoffMs ?? 100;
  const cap = options.maxBackoffMs ?? 5_000;
  return (next) => async (req) => {
    if (req.stream) return next(req);
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(req);
      } catch (error) {
        const typed = error instanceof TaskmasterError ? error : ConnectError.from(error);
        if (typed.code !== Code.Unavailable || attempt >= maxAttempts || req.signal.aborted) throw error;
        const hinted = toTaskmasterError(error).retryDelayMs;
        const delayMs = Math.min(cap, hinted ?? Math.random() * initial * 2 ** (attempt - 1));
        options.onRetry?.({ attempt, delayMs, hinted: hinted !== undefined, error });
        await sleep(delayMs, req.signal);
      }
    }
  };
}

/** Waits `ms` or until `signal` aborts (then rejects with the abort reason). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
