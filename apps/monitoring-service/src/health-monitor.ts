/**
 * Component health of the system: every configured service through its `grpc.health.v1` Check (typed
 * client, deadline per call) and the database through `SELECT 1`. Hysteresis as the contract says: a
 * component that was SERVING becomes NOT_SERVING after 3 consecutive failed checks and SERVING again after
 * 2 consecutive successes; an unchecked component is UNKNOWN. Polled every `intervalMs` while started;
 * listeners receive the snapshot and the changed component ids after every round that changed something.
 * Channels use the process's outgoing TLS (`channel`, GRPC_CLIENT_TLS_*) when given, plaintext otherwise;
 * grpc.health.v1 needs no identity token (services exempt it), so no identity is sent.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { pingDatabase } from "@taskmaster/persistence/monitoring.repository";
import { Health, HealthCheckResponse_ServingStatus } from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { ComponentKind, HealthStatus } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/health_pb";
import { createGrpcJsTransport, type GrpcJsTransport } from "@taskmaster/rpc-kit/grpc-client";
import type { OutboundChannel } from "@taskmaster/rpc-kit/outbound";

export const DATABASE_COMPONENT = "database";
const FAILURES_TO_DOWN = 3;
const SUCCESSES_TO_UP = 2;

export interface ComponentState {
  readonly component: string;
  readonly kind: ComponentKind;
  status: HealthStatus;
  message: string;
  latencyMs: number;
  checkTime: Date | undefined;
  statusSince: Date;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
}

export interface HealthSnapshot {
  readonly status: HealthStatus;
  readonly components: readonly ComponentState[];
  readonly checkTime: Date;
}

export interface HealthMonitorOptions {
  readonly orm: MikroORM;
  /** grpc.health.v1 service name -> `host:port`. */
  readonly services: Readonly<Record<string, string>>;
  /** Poll interval (default 10 s). */
  readonly intervalMs?: number | undefined;
  /** Deadline of one check (default 2 s). */
  readonly checkTimeoutMs?: number | undefined;
  /** TLS / mTLS credentials of the channels to the services (default: plaintext). */
  readonly channel?: OutboundChannel | undefined;
}

type Listener = (snapshot: HealthSnapshot, changed: readonly string[]) => void;

const severity: Record<HealthStatus, number> = {
  [HealthStatus.UNSPECIFIED]: 0,
  [HealthStatus.SERVING]: 0,
  [HealthStatus.DEGRADED]: 1,
  [HealthStatus.UNKNOWN]: 2,
  [HealthStatus.NOT_SERVING]: 3,
};

/** The worst status of `statuses` (SERVING when empty). */
export function worstStatus(statuses: readonly HealthStatus[]): HealthStatus {
  let worst: HealthStatus = HealthStatus.SERVING;
  for (const s of statuses) if (severity[s] > severity[worst]) worst = s;
  return worst;
}

function firstLine(err: unknown): string {
  if (err instanceof ConnectError) return `${Code[err.code]}: ${err.rawMessage}`.split("\n")[0] ?? "";
  const e = err as { code?: unknown; message?: unknown };
  const msg = typeof e?.message === "string" ? e.message : String(err);
  const code = typeof e?.code === "string" && !msg.includes(e.code) ? `${e.code} ` : "";
  // Never leak connection strings.
  return (
    `${code}${msg}`
      .split("\n")[0]
      ?.replace(/\w+:\/\/[^\s]+/g, "<url>")
      .slice(0, 200) ?? ""
  );
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export class HealthMonitor {
  readonly #orm: MikroORM;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #states = new Map<string, ComponentState>();
  readonly #transports = new Map<string, GrpcJsTransport>();
  readonly #listeners = new Set<Listener>();
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<HealthSnapshot> | undefined;
  #last: Date = new Date();

  constructor(options: HealthMonitorOptions) {
    this.#orm = options.orm;
    this.#intervalMs = options.intervalMs ?? 10_000;
    this.#timeoutMs = options.checkTimeoutMs ?? 2_000;
    const now = new Date();
    const add = (component: string, kind: ComponentKind) =>
      this.#states.set(component, {
        component,
        kind,
        status: HealthStatus.UNKNOWN,
        message: "not checked yet",
        latencyMs: 0,
        checkTime: undefined,
        statusSince: now,
        consecutiveFailures: 0,
        consecutiveSuccesses: 0,
      });
    add(DATABASE_COMPONENT, ComponentKind.DATABASE);
    for (const [name, address] of Object.entries(options.services)) {
      add(name, ComponentKind.SERVICE);
      this.#transports.set(
        name,
        createGrpcJsTransport({
          address,
          ...(options.channel !== undefined && {
            credentials: options.channel.credentials,
            channelOptions: options.channel.channelOptions,
          }),
        }),
      );
    }
  }

  /** Known component ids. */
  components(): string[] {
    return [...this.#states.keys()];
  }

  has(component: string): boolean {
    return this.#states.has(component);
  }

  /** Start periodic checks (first round immediately). */
  start(): void {
    if (this.#timer !== undefined) return;
    const tick = () => {
      void this.check().finally(() => {
        if (this.#timer !== undefined) this.#timer = setTimeout(tick, this.#intervalMs).unref();
      });
    };
    this.#timer = setTimeout(tick, 0).unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const t of this.#transports.values()) t.close();
  }

  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Current snapshot without checking. */
  snapshot(): HealthSnapshot {
    const components = [...this.#states.values()].map((s) => ({ ...s }));
    return { status: worstStatus(components.map((c) => c.status)), components, checkTime: this.#last };
  }

  /** Run one round of checks now (concurrent calls share the round). */
  check(): Promise<HealthSnapshot> {
    this.#round ??= this.#runRound().finally(() => {
      this.#round = undefined;
    });
    return this.#round;
  }

  /** Database health as tracked (with hysteresis), re-checked now. */
  async checkDatabase(): Promise<ComponentState> {
    const changed = await this.#checkOne(DATABASE_COMPONENT);
    if (changed) this.#emit([DATABASE_COMPONENT]);
    return { ...(this.#states.get(DATABASE_COMPONENT) as ComponentState) };
  }

  async #runRound(): Promise<HealthSnapshot> {
    const names = [...this.#states.keys()];
    const results = await Promise.all(names.map((n) => this.#checkOne(n)));
    this.#last = new Date();
    const changed = names.filter((_, i) => results[i]);
    if (changed.length > 0) this.#emit(changed);
    return this.snapshot();
  }

  #emit(changed: readonly string[]): void {
    const snap = this.snapshot();
    for (const l of this.#listeners) l(snap, changed);
  }

  async #probe(name: string): Promise<void> {
    if (name === DATABASE_COMPONENT) {
      await withDeadline(pingDatabase(this.#orm.em.fork()), this.#timeoutMs, "database");
      return;
    }
    const transport = this.#transports.get(name);
    if (transport === undefined) throw new Error("unknown component");
    const client = createClient(Health, transport);
    const res = await client.check({ service: name }, { timeoutMs: this.#timeoutMs });
    if (res.status !== HealthCheckResponse_ServingStatus.SERVING) {
      throw new Error(`reports ${HealthCheckResponse_ServingStatus[res.status]}`);
    }
  }

  /** Returns whether the status changed. */
  async #checkOne(name: string): Promise<boolean> {
    const state = this.#states.get(name);
    if (state === undefined) return false;
    const start = process.hrtime.bigint();
    let ok = true;
    let message = "ok";
    try {
      await this.#probe(name);
    } catch (err) {
      ok = false;
      message = firstLine(err);
    }
    const now = new Date();
    state.latencyMs = Number(process.hrtime.bigint() - start) / 1e6;
    state.checkTime = now;
    state.message = message;
    const before = state.status;
    if (ok) {
      state.consecutiveFailures = 0;
      state.consecutiveSuccesses++;
      if (before === HealthStatus.UNKNOWN || state.consecutiveSuccesses >= SUCCESSES_TO_UP) {
        state.status = HealthStatus.SERVING;
      }
    } else {
      state.consecutiveSuccesses = 0;
      state.consecutiveFailures++;
      if (before === HealthStatus.UNKNOWN || state.consecutiveFailures >= FAILURES_TO_DOWN) {
        state.status = HealthStatus.NOT_SERVING;
      } else if (before === HealthStatus.SERVING) {
        state.status = HealthStatus.DEGRADED;
      }
    }
    if (state.status !== before) state.statusSince = now;
    return state.status !== before;
  }
}
