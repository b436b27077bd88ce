import { isSpanContextValid, trace } from "@opentelemetry/api";
import { isSecretKey, maskValue } from "@taskmaster/config/masking";
import { type DestinationStream, type Level, type LevelWithSilent, type Logger, pino } from "pino";

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

function maskStringsDeep(value: unknown, depth: number): unknown {
  if (typeof value === "string") return maskConnectionStrings(value);
  if (depth <= 0 || value === null || typeof value !== "object") return value;
  if (value instanceof Error) return value; // the err serializer handles errors below
  if (Array.isArray(value)) return value.map((v) => maskStringsDeep(v, depth - 1));
  let copy: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const masked = isSecretKey(k) && v !== undefined && v !== null ? MASK : maskStringsDeep(v, depth - 1);
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

/**
 * Structured JSON logger (pino): `service` on every line, ISO `time`, string `level`, `trace_id`/`span_id`
 * from the active OpenTelemetry span, secrets masked (keys in SECRET_KEYS and passwords in connection strings,
 * in fields, messages and error messages).
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const keys = [...SECRET_KEYS, ...(options.redactKeys ?? [])];
  const errSerializer = pino.stdSerializers.err;
  return pino(
    {
      level: options.level ?? "info",
      base: { service: options.service, pid: process.pid, ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: "msg",
      redact: { paths: redactPaths(keys), censor: MASK },
      mixin: traceMixin,
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => maskStringsDeep(obj, 4) as Record<string, unknown>,
      },
      serializers: {
        err: (err: Error) => {
          const s = errSerializer(err);
          s.message = maskConnectionStrings(s.message);
          if (typeof s.stack === "string") s.stack = maskConnectionStrings(s.stack);
          return s;
        },
      },
      hooks: {
        logMethod(args, method) {
          for (let i = 0; i < args.length; i++) {
            const a: unknown = args[i];
            if (typeof a === "string") args[i] = maskConnectionStrings(a);
          }
          method.apply(this, args);
        },
      },
    },
    options.destination,
  );
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
