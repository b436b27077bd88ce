/**
 * Suspicious input detection: very long strings anywhere in a request, and SQL metacharacters in id fields
 * (`name`, `parent`, `*_id`, `*_ids`, resource references). Such a request is still answered normally (the
 * validators reject what is invalid); this only records a security event and counts it, without the
 * offending value (field path, length and reason only).
 *
 * `findSuspiciousInput(message)` is the pure check; `createSuspiciousInputInterceptor` wires it in front of
 * the handlers (unary and server-streaming requests; the recorder runs fire-and-forget and never fails a call).
 */
import { type DescField, type DescMessage, isMessage, type Message } from "@bufbuild/protobuf";
import { type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import type { Interceptor } from "@connectrpc/connect";
import { traceIdOf } from "./audit-context.js";

export interface SuspiciousFinding {
  /** Proto field path, e.g. `task.title` or `names[3]`. */
  readonly field: string;
  readonly reason: "very_long_string" | "sql_metachar_in_id";
  /** Length in characters of the offending value (never the value itself). */
  readonly length: number;
}

export interface SuspiciousInputOptions {
  /** Strings longer than this are "very long" (default 100 000 characters). */
  readonly maxStringLength?: number | undefined;
  /** Maximum findings reported per message (default 10). */
  readonly maxFindings?: number | undefined;
}

const SQL_META = /['";\\]|--|\/\*|\*\/|\b(?:union|select|drop|insert|update|delete)\b\s/i;
const ID_FIELD = /^(?:name|names|parent|id|uid|request_id|page_token)$|_(?:id|ids)$/;

function isIdField(field: DescField): boolean {
  return ID_FIELD.test(field.name);
}

/** Suspicious parts of a request message (empty when none). */
export function findSuspiciousInput(
  message: Message,
  schema: DescMessage,
  options: SuspiciousInputOptions = {},
): SuspiciousFinding[] {
  const maxLength = options.maxStringLength ?? 100_000;
  const maxFindings = options.maxFindings ?? 10;
  const out: SuspiciousFinding[] = [];
  const checkString = (path: string, value: string, idField: boolean) => {
    if (out.length >= maxFindings) return;
    if (value.length > maxLength) out.push({ field: path, reason: "very_long_string", length: value.length });
    else if (idField && (SQL_META.test(value) || value.includes("\0"))) {
      out.push({ field: path, reason: "sql_metachar_in_id", length: value.length });
    }
  };
  const walk = (msg: ReflectMessage, prefix: string, depth: number) => {
    if (depth > 32 || out.length >= maxFindings) return;
    for (const field of msg.fields) {
      if (!msg.isSet(field)) continue;
      const path = `${prefix}${field.name}`;
      const id = isIdField(field);
      switch (field.fieldKind) {
        case "scalar": {
          const v = msg.get(field);
          if (typeof v === "string") checkString(path, v, id);
          break;
        }
        case "message":
          walk(msg.get(field), `${path}.`, depth + 1);
          break;
        case "list": {
          const list = msg.get(field);
          let i = 0;
          for (const item of list) {
            if (typeof item === "string") checkString(`${path}[${i}]`, item, id);
            else if (item !== null && typeof item === "object" && "fields" in (item as object)) {
              walk(item as ReflectMessage, `${path}[${i}].`, depth + 1);
            }
            i++;
          }
          break;
        }
        case "map": {
          const map = msg.get(field);
          for (const [k, v] of map) {
            checkString(`${path}[key]`, String(k), false);
            if (typeof v === "string") checkString(`${path}[${String(k).slice(0, 40)}]`, v, false);
            else if (v !== null && typeof v === "object" && "fields" in (v as object)) {
              walk(v as ReflectMessage, `${path}[].`, depth + 1);
            }
          }
          break;
        }
        default:
          break;
      }
    }
  };
  walk(reflect(schema, message), "", 0);
  return out;
}

export interface SuspiciousInputEvent {
  /** `/package.Service/Method`. */
  readonly rpcMethod: string;
  readonly findings: readonly SuspiciousFinding[];
  readonly identity: string | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly requestId: string | null;
  /** The call's W3C trace id (active span or `traceparent`), to find the call's trace from the event. */
  readonly traceId: string | null;
}

export interface SuspiciousInputInterceptorOptions extends SuspiciousInputOptions {
  /** Persist the event (e.g. `recordSecurityEvent` with kind `suspicious_input`). Errors are swallowed. */
  readonly record?: ((event: SuspiciousInputEvent) => Promise<unknown> | undefined) | undefined;
  /** Count it (e.g. a prom-client counter `security_events_total{kind="suspicious_input",reason}`). */
  readonly count?: ((reason: string) => void) | undefined;
  /** Called when recording failed (log it). */
  readonly onError?: ((err: unknown) => void) | undefined;
}

/** Interceptor: inspects each request message, records + counts suspicious ones, then proceeds. */
export function createSuspiciousInputInterceptor(options: SuspiciousInputInterceptorOptions): Interceptor {
  return (next) => async (req) => {
    if (!req.stream && isMessage(req.message)) {
      const findings = findSuspiciousInput(req.message, req.method.input, options);
      if (findings.length > 0) {
        for (const f of findings) options.count?.(f.reason);
        const event: SuspiciousInputEvent = {
          rpcMethod: `/${req.service.typeName}/${req.method.name}`,
          findings,
          identity: req.header.get("x-taskmaster-actor"),
          ip: req.header.get("x-forwarded-for")?.split(",")[0]?.trim() ?? null,
          userAgent: req.header.get("user-agent"),
          requestId: req.header.get("x-request-id"),
          traceId: traceIdOf(req.header.get("traceparent")) ?? null,
        };
        try {
          void options.record?.(event)?.catch?.((err: unknown) => options.onError?.(err));
        } catch (err) {
          options.onError?.(err);
        }
      }
    }
    return next(req);
  };
}
