/**
 * OpenTelemetry SDK start-up (traces, metrics) configured by the standard `OTEL_*` environment variables:
 * `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`
 * (`http/protobuf` default, `grpc`, `http/json`), `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`
 * (e.g. `parentbased_traceidratio` + `0.1`), `OTEL_METRICS_EXPORTER`, `OTEL_SDK_DISABLED`, `OTEL_BSP_*` ...
 *
 * Policy: in `development`/`test` telemetry is off unless an OTLP endpoint is set or `OTEL_SDK_DISABLED=false`;
 * in `staging`/`production` it is on unless `OTEL_SDK_DISABLED=true`. Resource: `service.name`,
 * `service.version`, `deployment.environment` (= TASKMASTER_PROFILE / NODE_ENV, default development).
 * Start it through `node --import @taskmaster/telemetry/register` so pg is instrumented before it loads.
 * Spans are exported only through the masking exporter (trace-export.ts, span-masking.ts).
 */
import { otelEnabled, setOtelRuntime } from "./otel-state.js";

type Env = Readonly<Record<string, string | undefined>>;

export interface TelemetrySettings {
  readonly enabled: boolean;
  /** Why enabled/disabled, for one log line. */
  readonly reason: string;
  readonly serviceName: string;
  readonly serviceVersion: string;
  readonly environment: string;
}

const PRODUCTION_PROFILES = new Set(["staging", "production"]);

function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v === undefined || v === "" ? undefined : v;
}

/** Decide whether and as what this process exports telemetry (pure: reads only `env`). */
export function telemetrySettingsFromEnv(
  env: Env,
  defaults: { readonly serviceName: string; readonly serviceVersion: string },
): TelemetrySettings {
  const environment = nonEmpty(env.TASKMASTER_PROFILE) ?? nonEmpty(env.NODE_ENV) ?? "development";
  const serviceName = nonEmpty(env.OTEL_SERVICE_NAME) ?? defaults.serviceName;
  const serviceVersion = defaults.serviceVersion;
  const base = { serviceName, serviceVersion, environment };
  const disabled = nonEmpty(env.OTEL_SDK_DISABLED)?.toLowerCase();
  if (disabled === "true") return { ...base, enabled: false, reason: "OTEL_SDK_DISABLED=true" };
  if (disabled === "false") return { ...base, enabled: true, reason: "OTEL_SDK_DISABLED=false" };
  if (nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT) ?? nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)) {
    return { ...base, enabled: true, reason: "OTLP endpoint set" };
  }
  if (PRODUCTION_PROFILES.has(environment)) {
    return { ...base, enabled: true, reason: `profile ${environment}` };
  }
  return {
    ...base,
    enabled: false,
    reason: `off by default in ${environment} (set OTEL_EXPORTER_OTLP_ENDPOINT)`,
  };
}

/** `OTEL_SHUTDOWN_TIMEOUT_MS` (default 2000): how long a stopping process waits for pending exports. */
export function shutdownBoundMs(env: Env): number {
  const raw = Number(nonEmpty(env.OTEL_SHUTDOWN_TIMEOUT_MS) ?? "2000");
  return Number.isFinite(raw) && raw >= 0 ? Math.min(raw, 30_000) : 2_000;
}

export interface StartTelemetryOptions {
  readonly serviceName: string;
  readonly serviceVersion: string;
  readonly env?: Env | undefined;
}

/**
 * Start the SDK when the settings say so. Returns the settings used. Idempotent (a second call is a no-op).
 * `OTEL_LOGS_EXPORTER` defaults to `none` here: logs go to stdout as JSON with trace ids.
 */
export async function startTelemetry(options: StartTelemetryOptions): Promise<TelemetrySettings> {
  const env = options.env ?? process.env;
  const settings = telemetrySettingsFromEnv(env, options);
  if (!settings.enabled || otelEnabled()) return settings;
  if (process.env.OTEL_LOGS_EXPORTER === undefined) process.env.OTEL_LOGS_EXPORTER = "none";
  // The SDK reads OTEL_SDK_DISABLED itself; we decided already (the development default is ours).
  if (process.env.OTEL_SDK_DISABLED !== undefined) delete process.env.OTEL_SDK_DISABLED;
  const [{ NodeSDK }, { resourceFromAttributes }, { PgInstrumentation }, { maskedSpanProcessorsFromEnv }] =
    await Promise.all([
      import("@opentelemetry/sdk-node"),
      import("@opentelemetry/resources"),
      import("@opentelemetry/instrumentation-pg"),
      import("./trace-export.js"),
    ]);
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({
      "service.name": settings.serviceName,
      "service.version": settings.serviceVersion,
      // Semconv (incubating) `deployment.environment`, plus its newer name.
      "deployment.environment": settings.environment,
      "deployment.environment.name": settings.environment,
    }),
    serviceName: settings.serviceName,
    // Our own processors so that every exporter masks span names, attributes, events and status messages
    // with the one masking policy (span-masking.ts); none at all when OTEL_TRACES_EXPORTER=none.
    spanProcessors: await maskedSpanProcessorsFromEnv(env),
    instrumentations: [
      new PgInstrumentation({
        // Queries inside a traced call only; pool checkouts are measured by the pool metrics, not spans.
        requireParentSpan: true,
        ignoreConnectSpans: true,
        enhancedDatabaseReporting: false,
      }),
    ],
  });
  sdk.start();
  let stopped: Promise<void> | undefined;
  const boundMs = shutdownBoundMs(env);
  setOtelRuntime({
    serviceName: settings.serviceName,
    // Bounded: with the collector gone the exporters retry until their own timeouts (10-30 s); a stopping
    // process gives up on what is still pending after `boundMs` instead (telemetry is lost, never the stop).
    shutdown: () => {
      stopped ??= new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, boundMs);
        timer.unref();
        sdk.shutdown().then(
          () => {
            clearTimeout(timer);
            resolve();
          },
          () => {
            clearTimeout(timer);
            resolve();
          },
        );
      });
      return stopped;
    },
  });
  return settings;
}
