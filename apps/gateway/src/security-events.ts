/**
 * Security events: every refused authentication, authorization, rate limit or malformed request is counted
 * (`gateway_security_events_total{kind,reason}` when a Prometheus registry is given, plus in-memory counts),
 * logged as one structured warn line (`event: "security"`), and, when the gateway has a database URL,
 * inserted into the `security_events` table (fire-and-forget; a database outage never blocks a request,
 * it only logs). Tokens are never logged or stored.
 */
import { randomUUID } from "node:crypto";
import { insertSecurityEventRow } from "@taskmaster/persistence/security-events.repository";
import type { Logger } from "@taskmaster/telemetry/logger";
import pg from "pg";
import { Counter, type Registry } from "prom-client";

/** The table's `kind` check constraint values. */
export type SecurityEventKind =
  | "authentication_failed"
  | "permission_denied"
  | "rate_limited"
  | "suspicious_input";

export interface SecurityEvent {
  readonly kind: SecurityEventKind;
  /** Internal reason (e.g. `expired`, `unknown_key`); never shown to callers. */
  readonly reason: string;
  readonly identity?: string | undefined;
  readonly ip?: string | undefined;
  readonly rpc?: string | undefined;
}

export interface SecurityEvents {
  record(event: SecurityEvent): void;
  /** Counts by `kind:reason` since start. */
  counts(): ReadonlyMap<string, number>;
  total(kind?: SecurityEventKind): number;
  /** Wait for pending inserts (tests, shutdown). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface SecurityEventsOptions {
  readonly logger: Logger;
  /** Insert into `security_events` when set. */
  readonly databaseUrl?: string | undefined;
  readonly registry?: Registry | undefined;
}

const isIp = (ip: string | undefined): ip is string =>
  ip !== undefined && /^[0-9a-fA-F:.]+$/.test(ip) && ip.length <= 45;

export function createSecurityEvents(options: SecurityEventsOptions): SecurityEvents {
  const counts = new Map<string, number>();
  const counter =
    options.registry === undefined
      ? undefined
      : ((options.registry.getSingleMetric("gateway_security_events_total") as Counter<"kind" | "reason">) ??
        new Counter({
          name: "gateway_security_events_total",
          help: "Requests refused at the edge, by kind and reason.",
          labelNames: ["kind", "reason"] as const,
          registers: [options.registry],
        }));
  const pool =
    options.databaseUrl === undefined
      ? undefined
      : new pg.Pool({ connectionString: options.databaseUrl, max: 2, idleTimeoutMillis: 10_000 });
  pool?.on("error", (err) => options.logger.warn({ err: err.message }, "security event pool error"));
  const pending = new Set<Promise<unknown>>();
  let dbFailures = 0;

  return {
    record(event) {
      const key = `${event.kind}:${event.reason}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      counter?.inc({ kind: event.kind, reason: event.reason });
      options.logger.warn(
        {
          event: "security",
          kind: event.kind,
          reason: event.reason,
          identity: event.identity,
          ip: event.ip,
          rpc: event.rpc,
        },
        "security event",
      );
      if (pool === undefined) return;
      const insert = insertSecurityEventRow(pool, {
        id: randomUUID(),
        kind: event.kind,
        identity: event.identity?.slice(0, 255) ?? null,
        ip: isIp(event.ip) ? event.ip : null,
        detail: { reason: event.reason, ...(event.rpc !== undefined && { rpc: event.rpc }) },
      }).catch((err: Error) => {
        // Log the first failures, then every 100th, so an outage does not flood the log.
        if (dbFailures++ % 100 === 0) {
          options.logger.error({ err: err.message, failures: dbFailures }, "cannot record security event");
        }
      });
      pending.add(insert);
      void insert.finally(() => pending.delete(insert));
    },
    counts: () => counts,
    total(kind) {
      let n = 0;
      for (const [k, v] of counts) if (kind === undefined || k.startsWith(`${kind}:`)) n += v;
      return n;
    },
    async flush() {
      await Promise.all([...pending]);
    },
    async close() {
      await Promise.all([...pending]);
      await pool?.end();
    },
  };
}
