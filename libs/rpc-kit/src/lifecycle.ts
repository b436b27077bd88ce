/**
 * Process lifecycle for a service's main.ts: start, then on SIGTERM or SIGINT run the caller's shutdown steps
 * in order (stop accepting + drain, close the ORM, flush telemetry), exit 0 when all went well. A second signal
 * forces exit. Startup failures print ONE line (no stack trace) and exit 1.
 */
import { ConfigError, formatConfigError } from "@taskmaster/config/config";
import type { Logger } from "@taskmaster/telemetry/logger";
import { otelEnabled, shutdownOtel } from "@taskmaster/telemetry/otel-state";
import { ListenError } from "./grpc-server.js";

export interface ShutdownStep {
  /** Shown in logs, e.g. "grpc", "orm", "telemetry". */
  readonly name: string;
  readonly run: () => Promise<unknown> | unknown;
  /** Bound on this step (default 10 s). A step that times out counts as failed; later steps still run. */
  readonly timeoutMs?: number;
}

export interface Started {
  /** Run in this order on shutdown. */
  readonly steps: readonly ShutdownStep[];
}

export interface RunServiceOptions {
  /** Service name, prefix of the one-line startup error. */
  readonly name: string;
  /** Build everything and start listening; return the shutdown steps. */
  readonly start: () => Promise<Started>;
  /** Logger for shutdown progress; optional because config may fail before there is one. */
  readonly logger?:
    | Pick<Logger, "info" | "warn" | "error">
    | (() => Pick<Logger, "info" | "warn" | "error"> | undefined);
  /** Default SIGTERM and SIGINT. */
  readonly signals?: readonly NodeJS.Signals[];
  /** For tests: replaces process.exit. */
  readonly exit?: (code: number) => void;
  /** For tests: replaces writing the one-line startup error to stderr. */
  readonly printError?: (line: string) => void;
}

export interface RunningService {
  /** Resolves with the exit code once shutdown has finished (or startup failed). */
  readonly exited: Promise<number>;
  /** Trigger the same ordered shutdown as a signal. */
  stop(): Promise<number>;
}

interface ErrorLike {
  code?: unknown;
  name?: unknown;
  message?: unknown;
  address?: unknown;
  port?: unknown;
  cause?: unknown;
  errors?: unknown;
}

/** One line for a startup failure: bad config, port in use, database unreachable, anything else. */
export function formatStartupError(err: unknown): string {
  if (err instanceof ConfigError || err instanceof ListenError) return err.message;
  const e = (typeof err === "object" && err !== null ? err : {}) as ErrorLike;
  let inner: ErrorLike = e;
  // AggregateError (pg tries IPv4 and IPv6) and wrapped causes: find the errno-style code.
  for (let depth = 0; depth < 4; depth++) {
    if (typeof inner.code === "string") break;
    const next = Array.isArray(inner.errors) ? inner.errors[0] : inner.cause;
    if (typeof next !== "object" || next === null) break;
    inner = next as ErrorLike;
  }
  const code = typeof inner.code === "string" ? inner.code : undefined;
  const where =
    typeof inner.address === "string"
      ? ` ${inner.address}${typeof inner.port === "number" ? `:${inner.port}` : ""}`
      : "";
  if (code === "EADDRINUSE") return `cannot listen on${where}: address already in use`;
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "ETIMEDOUT" || code === "EHOSTUNREACH") {
    return `database unreachable${where} (${code})`;
  }
  if (code === "28P01" || code === "28000")
    return "database rejected the credentials (authentication failed)";
  if (code === "3D000") return `database does not exist (${String(inner.message ?? "")})`;
  if (e.name === "ConnectionException") return `database unreachable (${formatConfigError(err)})`;
  return formatConfigError(err);
}

async function withTimeout(step: ShutdownStep): Promise<void> {
  const ms = step.timeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(step.run),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`shutdown step "${step.name}" timed out after ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Run a service until SIGTERM/SIGINT. Never throws: failures end in exit code 1 with one line on stderr.
 *
 * @example
 *   runService({ name: "task-service", logger: () => logger, start: async () => {
 *     const config = loadConfig(...); ...; await server.listen(host, port);
 *     return { steps: [
 *       { name: "grpc", run: () => server.shutdown(config.shutdown.graceMs) },
 *       { name: "orm", run: () => orm.close() },
 *       { name: "telemetry", run: () => flushLogger(logger) },
 *     ] };
 *   }});
 */
export function runService(options: RunServiceOptions): RunningService {
  const signals = options.signals ?? ["SIGTERM", "SIGINT"];
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const printError = options.printError ?? ((line: string) => process.stderr.write(`${line}\n`));
  const log = () => (typeof options.logger === "function" ? options.logger() : options.logger);

  let steps: readonly ShutdownStep[] | undefined;
  let stopping: Promise<number> | undefined;
  let resolveExited: (code: number) => void = () => {};
  const exited = new Promise<number>((resolve) => {
    resolveExited = resolve;
  });
  let finished = false;
  const finish = (code: number) => {
    if (finished) return;
    finished = true;
    for (const s of signals) process.off(s, onSignal);
    resolveExited(code);
    exit(code);
  };

  const stop = (): Promise<number> => {
    stopping ??= (async () => {
      let code = 0;
      // Last: flush OpenTelemetry's pending spans/metrics (started by --import @taskmaster/telemetry/register).
      const all = otelEnabled()
        ? [...(steps ?? []), { name: "telemetry", timeoutMs: 5_000, run: shutdownOtel }]
        : steps;
      for (const step of all ?? []) {
        try {
          await withTimeout(step);
          log()?.info({ step: step.name }, "shutdown step done");
        } catch (err) {
          code = 1;
          log()?.error({ err, step: step.name }, "shutdown step failed");
        }
      }
      log()?.info({ exitCode: code }, "stopped");
      finish(code);
      return code;
    })();
    return stopping;
  };

  function onSignal(signal: NodeJS.Signals): void {
    if (stopping !== undefined || steps === undefined) {
      log()?.warn({ signal }, "second signal: forcing exit");
      if (steps === undefined && stopping === undefined)
        printError(`${options.name}: interrupted during startup`);
      finish(1);
      return;
    }
    log()?.info({ signal }, "shutting down");
    void stop();
  }

  for (const s of signals) process.on(s, onSignal);

  void (async () => {
    try {
      const started = await options.start();
      steps = started.steps;
    } catch (err) {
      printError(`${options.name}: ${formatStartupError(err)}`);
      finish(1);
    }
  })();

  return { exited, stop };
}
