import { isSpanContextValid, trace } from "@opentelemetry/api";
import { type MaskingPolicy, maskingPolicy, maskValue } from "@taskmaster/config/masking";
import { type DestinationStream, type Level, type LevelWithSilent, type Logger, pino } from "pino";
import { isFlatPlain, safeString, toLoggable } from "./log-safe-value.js";

export type { Logger };
export type LogLevel = LevelWithSilent;

export interface CreateLoggerOptions {
  /** Service name, written as `service` on every line. */
  readonly service: string;
  /** Minimum level (default "info"). */
  readonly level?: LogLevel | undefined;
  /** Where to write (default: stdout, synchronous). Tests pass a stream to capture lines. */
  readonly destination?: DestinationStream | undefined;
  /** Extra base fields (e.g. `version`). */
  readonly base?: Readonly<Record<string, unknown>> | undefined;
  /** Extra key names to mask, on top of SECRET_KEYS. */
  readonly redactKeys?: readonly string[] | undefined;
  /**
   * The masking policy for fields, messages and errors (default: the built-in one). The composition root
   * passes `createMaskingPolicy(config.masking)` so TASKMASTER_MASK_KEYS / TASKMASTER_MASK_PATTERNS apply.
   */
  readonly masking?: MaskingPolicy | undefined;
}

/** Key names masked wherever they appear up to three levels deep (`password`, `req.headers.authorization` ...). */
export const SECRET_KEYS: readonly string[] = [
  "password",
  "passwd",
  "pwd",
  "secret",
  "clientSecret",
  "client_secret",
  "token",
  "accessToken",
  "access_token",
  "refreshToken",
  "refresh_token",
  "idToken",
  "apiKey",
  "api_key",
  "apikey",
  "x-api-key",
  "authorization",
  "Authorization",
  "cookie",
  "Cookie",
  "set-cookie",
  "cf-access-jwt-assertion",
  "cf-access-client-secret",
  "privateKey",
  "private_key",
];

export const MASK = "***";

function redactPaths(keys: readonly string[]): string[] {
  const out: string[] = [];
  for (const key of keys) {
    const p = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
    const join = (prefix: string) => (p.startsWith("[") ? `${prefix}${p}` : `${prefix}.${p}`);
    out.push(p, join("*"), join("*.*"));
  }
  return out;
}

/** Mask secret shapes in free text (the masking policy of `@taskmaster/config/masking`). */
export function maskConnectionStrings(text: string): string {
  return maskValue(text);
}

function maskStringsDeep(policy: MaskingPolicy, value: unknown, depth: number): unknown {
  if (typeof value === "string") return policy.maskValue(value);
  if (depth <= 0 || value === null || typeof value !== "object") return value;
  if (value instanceof Error) return value; // the err serializer handles errors below
  if (Array.isArray(value)) return value.map((v) => maskStringsDeep(policy, v, depth - 1));
  let copy: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const masked =
      policy.isSecretKey(k) && v !== undefined && v !== null ? MASK : maskStringsDeep(policy, v, depth - 1);
    if (masked !== v) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[k] = masked;
    }
  }
  return copy ?? value;
}

/** The active OpenTelemetry span's ids, or nothing (no-op API when OTel is not started). */
function traceMixin(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (span === undefined) return {};
  const ctx = span.spanContext();
  if (!isSpanContextValid(ctx)) return {};
  return {
    trace_id: ctx.traceId,
    span_id: ctx.spanId,
    trace_flags: `0${ctx.traceFlags.toString(16)}`.slice(-2),
  };
}

function isErrorValue(value: unknown): value is Error {
  try {
    return value instanceof Error;
  } catch {
    return false;
  }
}

/**
 * The arguments of one log call made safe for pino: objects become plain JSON-safe data (see
 * log-safe-value.ts), an error first argument becomes `{ err }` with its (masked) message as the message
 * when none is given (pino's own behaviour), strings are masked, other first arguments become text.
 */
function safeArgs(args: unknown[], mask: (text: string) => string): unknown[] {
  const [first, ...rest] = args;
  const tail = rest.map((v) => toLoggable(v, mask));
  if (isErrorValue(first)) {
    const err = toLoggable(first, mask) as { message?: unknown };
    if (typeof tail[0] === "string") return [{ err }, ...tail];
    return [{ err }, typeof err.message === "string" ? err.message : "error", ...tail];
  }
  if (typeof first === "object" && first !== null) {
    return [isFlatPlain(first) ? first : toLoggable(first, mask), ...tail];
  }
  if (typeof first === "string") return [mask(first), ...tail];
  if (first === undefined && args.length === 0) return args;
  const text = toLoggable(first, mask);
  return [typeof text === "string" ? text : safeString(JSON.stringify(text)), ...tail];
}

/**
 * Structured JSON logger (pino): `service` on every line, ISO `time`, string `level`, `trace_id`/`span_id`
 * from the active OpenTelemetry span, secrets masked (keys in SECRET_KEYS and passwords in connection strings,
 * in fields, messages and error messages). A log call never throws, whatever it is given (strings, null,
 * BigInt, cyclic or frozen objects, throwing getters, revoked proxies): a logger runs in error paths.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const keys = [...SECRET_KEYS, ...(options.redactKeys ?? [])];
  const policy = options.masking ?? maskingPolicy();
  const mask = policy.maskValue;
  const logger = pino(
    {
      level: options.level ?? "info",
      base: { service: options.service, pid: process.pid, ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: "msg",
      redact: { paths: redactPaths(keys), censor: MASK },
      mixin: () => {
        try {
          return traceMixin();
        } catch {
          return {};
        }
      },
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => maskStringsDeep(policy, obj, 4) as Record<string, unknown>,
      },
      serializers: {
        // Anything may arrive as `err` (a string, null, a frozen error): plain masked data, never a throw.
        err: (err: unknown) => toLoggable(err, mask),
      },
      hooks: {
        logMethod(args, method) {
          try {
            method.apply(this, safeArgs(args, mask) as Parameters<typeof method>);
          } catch (failure) {
            try {
              method.call(this, { logFailure: toLoggable(failure, mask) }, "log call failed");
            } catch {
              // Nothing left to log with; a logger never throws.
            }
          }
        },
      },
    },
    options.destination,
  );
  return withSafeChildren(logger, mask);
}

/** `child(bindings)` with bindings made plain first (pino serializes them at once and could throw). */
function withSafeChildren(logger: Logger, mask: (text: string) => string): Logger {
  const child = logger.child.bind(logger);
  logger.child = ((bindings: Record<string, unknown>, opts?: Parameters<Logger["child"]>[1]) => {
    let safe: Record<string, unknown>;
    try {
      const plain = toLoggable(bindings, mask);
      safe =
        typeof plain === "object" && plain !== null && !Array.isArray(plain)
          ? (plain as Record<string, unknown>)
          : {};
    } catch {
      safe = {};
    }
    return withSafeChildren(child(safe, opts) as unknown as Logger, mask);
  }) as unknown as Logger["child"];
  return logger;
}

/** Flush buffered output (for asynchronous destinations) before the process exits. */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    try {
      logger.flush((err) => {
        if (err) resolve();
        else resolve();
      });
    } catch {
      resolve();
    }
  });
}

export type { Level };
