/**
 * The span processors of this process, from the standard variables, every exporter wrapped in
 * {@link MaskingSpanExporter}: `OTEL_TRACES_EXPORTER` (`otlp` default, `console`, `none`; comma-separated),
 * `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf` default, `grpc`,
 * `http/json`) and `OTEL_BSP_*` for the batch processor. The exporters read their own endpoint, headers and
 * timeout variables. Same choices the OpenTelemetry NodeSDK makes from these variables, except that nothing is
 * exported unmasked.
 */
import { diag } from "@opentelemetry/api";
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace";
import { MaskingSpanExporter } from "./span-masking.js";

type Env = Readonly<Record<string, string | undefined>>;

function nonNegative(env: Env, name: string): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (Number.isFinite(n) && n >= 0) return n;
  diag.warn(`${name} is not a non-negative number ("${raw}"); using the default`);
  return undefined;
}

async function otlpExporter(env: Env): Promise<SpanExporter> {
  const protocol =
    (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL)?.trim() || "http/protobuf";
  switch (protocol) {
    case "grpc":
      return new (await import("@opentelemetry/exporter-trace-otlp-grpc")).OTLPTraceExporter();
    case "http/json":
      return new (await import("@opentelemetry/exporter-trace-otlp-http")).OTLPTraceExporter();
    default:
      if (protocol !== "http/protobuf") {
        diag.warn(`unsupported OTLP traces protocol "${protocol}"; using http/protobuf`);
      }
      return new (await import("@opentelemetry/exporter-trace-otlp-proto")).OTLPTraceExporter();
  }
}

/** Masked span processors for `env` (empty = tracing off, e.g. `OTEL_TRACES_EXPORTER=none`). */
export async function maskedSpanProcessorsFromEnv(env: Env): Promise<SpanProcessor[]> {
  const names = [
    ...new Set(
      (env.OTEL_TRACES_EXPORTER ?? "")
        .split(",")
        .map((n) => n.trim().toLowerCase())
        .filter((n) => n !== "" && n !== "null"),
    ),
  ];
  if (names.length === 1 && names[0] === "none") return [];
  const chosen = names.length === 0 || names.includes("none") ? ["otlp"] : names;
  const processors: SpanProcessor[] = [];
  for (const name of chosen) {
    if (name === "console") {
      processors.push(
        new SimpleSpanProcessor({ exporter: new MaskingSpanExporter(new ConsoleSpanExporter()) }),
      );
    } else if (name === "otlp") {
      processors.push(
        new BatchSpanProcessor({
          exporter: new MaskingSpanExporter(await otlpExporter(env)),
          maxQueueSize: nonNegative(env, "OTEL_BSP_MAX_QUEUE_SIZE"),
          scheduledDelayMillis: nonNegative(env, "OTEL_BSP_SCHEDULE_DELAY"),
          exportTimeoutMillis: nonNegative(env, "OTEL_BSP_EXPORT_TIMEOUT"),
          maxExportBatchSize: nonNegative(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
        }),
      );
    } else {
      diag.warn(`unsupported OTEL_TRACES_EXPORTER value "${name}" (supported: otlp, console, none)`);
    }
  }
  return processors;
}
