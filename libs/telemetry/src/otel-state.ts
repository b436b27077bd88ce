/**
 * Process-wide OpenTelemetry state shared between the `--import` entry (register.ts) and the code that
 * instruments RPCs (rpc-kit). Dependency-free so checking it costs nothing when telemetry is off.
 */
const KEY = Symbol.for("taskmaster.telemetry.otel");

export interface OtelRuntime {
  /** Flush and stop exporters (idempotent). */
  readonly shutdown: () => Promise<void>;
  readonly serviceName: string;
}

type Holder = { [KEY]?: OtelRuntime };

/** True once the OpenTelemetry SDK was started in this process (tracing interceptors are no-ops before). */
export function otelEnabled(): boolean {
  return (globalThis as Holder)[KEY] !== undefined;
}

export function setOtelRuntime(runtime: OtelRuntime | undefined): void {
  if (runtime === undefined) delete (globalThis as Holder)[KEY];
  else (globalThis as Holder)[KEY] = runtime;
}

/** Flush pending spans/metrics and stop the SDK; resolves at once when telemetry is off. */
export async function shutdownOtel(): Promise<void> {
  const runtime = (globalThis as Holder)[KEY];
  if (runtime === undefined) return;
  await runtime.shutdown();
}
