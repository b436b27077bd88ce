/**
 * Span attributes through THE masking policy (`@taskmaster/config/masking`) before any span leaves the
 * process: {@link MaskingSpanExporter} wraps every exporter the SDK is given (see `otel.ts`), so no code path
 * that sets an attribute (RPC interceptors, pg instrumentation, exception events, status messages) can bypass
 * it. Masked: span name, attribute values (a secret-named key masks its whole value; every string, also in
 * arrays, through the value patterns), event names and attributes (`exception.message`,
 * `exception.stacktrace`), link attributes and the status message; SQL text (`db.statement`, `db.query.text`)
 * loses its literals. Masking runs at export time, off the
 * request path. If masking fails, the batch is dropped (reported as a failed export), never sent unmasked.
 */
import type { Attributes, AttributeValue, Link, SpanStatus } from "@opentelemetry/api";
import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter, TimedEvent } from "@opentelemetry/sdk-trace";
import { MASK, type MaskingPolicy, maskingPolicy } from "@taskmaster/config/masking";

function maskAttributeValue(policy: MaskingPolicy, value: AttributeValue): AttributeValue {
  if (typeof value === "string") return policy.maskValue(value);
  if (Array.isArray(value)) {
    return value.map((v) => (typeof v === "string" ? policy.maskValue(v) : v)) as AttributeValue;
  }
  return value;
}

/** Attributes holding SQL text (old and current semantic conventions). */
const SQL_TEXT_KEYS = new Set(["db.statement", "db.query.text"]);

/**
 * SQL text without its literals: quoted strings (also E'...' and '' escapes) and numbers become `?`, so values
 * a client library inlined into the statement (MikroORM does for some queries) never leave the process: not
 * only secrets but personal data in task text. Identifiers, placeholders ($1) and keywords stay.
 */
export function sanitizeSqlText(sql: string): string {
  return sql
    .replace(/(?<!\w)[Ee]'(?:[^'\\]|''|\\.)*'|'(?:[^']|'')*'/g, "?")
    .replace(/(?<![\w$."])-?\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b(?![\w"])/g, "?");
}

/** A masked copy of `attributes` (secret-named keys -> "***", strings through the value patterns). */
export function maskAttributes(policy: MaskingPolicy, attributes: Attributes): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    if (policy.isSecretKey(key)) out[key] = MASK;
    else if (SQL_TEXT_KEYS.has(key) && typeof value === "string") out[key] = sanitizeSqlText(value);
    else out[key] = maskAttributeValue(policy, value);
  }
  return out;
}

function maskEvent(policy: MaskingPolicy, event: TimedEvent): TimedEvent {
  return {
    ...event,
    name: policy.maskValue(event.name),
    ...(event.attributes !== undefined && { attributes: maskAttributes(policy, event.attributes) }),
  };
}

function maskLink(policy: MaskingPolicy, link: Link): Link {
  return link.attributes === undefined
    ? link
    : { ...link, attributes: maskAttributes(policy, link.attributes) };
}

function maskStatus(policy: MaskingPolicy, status: SpanStatus): SpanStatus {
  return status.message === undefined ? status : { ...status, message: policy.maskValue(status.message) };
}

/** A read-only view of `span` with every string an exporter would send masked. */
export function maskSpan(policy: MaskingPolicy, span: ReadableSpan): ReadableSpan {
  return {
    name: policy.maskValue(span.name),
    kind: span.kind,
    spanContext: () => span.spanContext(),
    ...(span.parentSpanContext !== undefined && { parentSpanContext: span.parentSpanContext }),
    startTime: span.startTime,
    endTime: span.endTime,
    status: maskStatus(policy, span.status),
    attributes: maskAttributes(policy, span.attributes),
    links: span.links.map((l) => maskLink(policy, l)),
    events: span.events.map((e) => maskEvent(policy, e)),
    duration: span.duration,
    ended: span.ended,
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

/** Exports through `inner` only masked spans. `policy` is read per batch (default: the process-wide one). */
export class MaskingSpanExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #policy: () => MaskingPolicy;

  constructor(inner: SpanExporter, policy: () => MaskingPolicy = maskingPolicy) {
    this.#inner = inner;
    this.#policy = policy;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    let masked: ReadableSpan[];
    try {
      const policy = this.#policy();
      masked = spans.map((s) => maskSpan(policy, s));
    } catch (err) {
      resultCallback({
        code: ExportResultCode.FAILED,
        error: new Error(`spans dropped: masking failed (${(err as Error).name})`),
      });
      return;
    }
    this.#inner.export(masked, resultCallback);
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  async forceFlush(): Promise<void> {
    await this.#inner.forceFlush?.();
  }
}
