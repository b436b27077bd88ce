/**
 * grpc.health.v1.Health (Check, Watch, List) as a Connect ServiceImpl over the generated schema, backed by a
 * HealthRegistry. Statuses are set per service name ("" = the whole server). Optional checks (e.g. a database
 * ping) make the reported status reflect reality: Check evaluates them live (bounded by a timeout), and
 * `startPolling` re-evaluates them so Watch streams see changes.
 */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  type Health,
  HealthCheckResponse_ServingStatus,
} from "@taskmaster/proto/gen/grpc/health/v1/health_pb";

export { HealthCheckResponse_ServingStatus as ServingStatus };

type Status = HealthCheckResponse_ServingStatus;
const { SERVING, NOT_SERVING, SERVICE_UNKNOWN } = HealthCheckResponse_ServingStatus;

/** A dependency probe: true/SERVING = healthy; false, NOT_SERVING or throwing = unhealthy. */
export type HealthCheck = (signal: AbortSignal) => Promise<boolean | Status> | boolean | Status;

export interface HealthRegistryOptions {
  /** Bound on one check evaluation (upstream: 5 s). */
  readonly checkTimeoutMs?: number;
  /** Check results are reused for this long, so a burst of Check calls runs the probe once. Default 1 s. */
  readonly cacheMs?: number;
}

type Listener = (status: Status) => void;

interface CheckEntry {
  readonly name: string;
  readonly fn: HealthCheck;
}

export class HealthRegistry {
  readonly #set = new Map<string, Status>();
  readonly #observed = new Map<string, Status>();
  readonly #checks = new Map<string, CheckEntry[]>();
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #cache = new Map<string, { at: number; ok: boolean; pending?: Promise<boolean> }>();
  readonly #timeoutMs: number;
  readonly #cacheMs: number;
  #poll: NodeJS.Timeout | undefined;
  #shuttingDown = false;

  constructor(options: HealthRegistryOptions = {}) {
    this.#timeoutMs = options.checkTimeoutMs ?? 5_000;
    this.#cacheMs = options.cacheMs ?? 1_000;
    this.#set.set("", SERVING);
  }

  /** Set the status of a service ("" = overall). Watchers are notified on change. */
  setStatus(service: string, status: Status): void {
    if (this.#shuttingDown && status === SERVING) return;
    this.#set.set(service, status);
    this.#publish(service);
  }

  /**
   * Add a probe for a service (and thereby for the overall status ""), e.g. `db` ping.
   * Registers the service as SERVING if it was unknown.
   */
  addCheck(service: string, name: string, fn: HealthCheck): void {
    const list = this.#checks.get(service) ?? [];
    list.push({ name, fn });
    this.#checks.set(service, list);
    if (!this.#set.has(service)) this.#set.set(service, SERVING);
  }

  /** Registered service names (including ""). */
  services(): string[] {
    return [...this.#set.keys()];
  }

  /** Last known status without running checks; undefined when the service is unknown. */
  getStatus(service: string): Status | undefined {
    if (!this.#set.has(service)) return undefined;
    return this.#observed.get(service) ?? this.#set.get(service);
  }

  /** Evaluate the status now (set status AND checks). Undefined when the service is unknown. */
  async evaluate(service: string): Promise<Status | undefined> {
    const set = this.#set.get(service);
    if (set === undefined) return undefined;
    let status = set;
    if (set === SERVING) {
      const entries =
        service === "" ? [...this.#checks.entries()] : [[service, this.#checks.get(service) ?? []] as const];
      const results = await Promise.all(entries.flatMap(([svc, list]) => list.map((c) => this.#run(svc, c))));
      if (results.includes(false)) status = NOT_SERVING;
    }
    this.#observe(service, status);
    return status;
  }

  async #run(service: string, check: CheckEntry): Promise<boolean> {
    const key = `${service}\u0000${check.name}`;
    const now = Date.now();
    const cached = this.#cache.get(key);
    if (cached?.pending) return cached.pending;
    if (cached && now - cached.at < this.#cacheMs) return cached.ok;
    const pending = this.#probe(check.fn).then((ok) => {
      this.#cache.set(key, { at: Date.now(), ok });
      return ok;
    });
    this.#cache.set(key, { at: cached?.at ?? 0, ok: cached?.ok ?? true, pending });
    return pending;
  }

  async #probe(fn: HealthCheck): Promise<boolean> {
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        ac.abort(new Error("health check timed out"));
        resolve(false);
      }, this.#timeoutMs);
    });
    try {
      const result = await Promise.race([Promise.resolve().then(() => fn(ac.signal)), timeout]);
      return result === true || result === SERVING;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  #observe(service: string, status: Status): void {
    const before = this.getStatus(service);
    this.#observed.set(service, status);
    if (before !== status) this.#notify(service, status);
  }

  #publish(service: string): void {
    this.#observed.delete(service);
    const status = this.#set.get(service);
    if (status !== undefined) this.#notify(service, status);
    // Re-evaluate so checks still apply to the newly set status.
    if (status === SERVING && (this.#checks.has(service) || service === "")) void this.evaluate(service);
  }

  #notify(service: string, status: Status): void {
    for (const l of this.#listeners.get(service) ?? []) l(status);
  }

  /**
   * Statuses of one service: the current one first, then every change, until `signal` aborts.
   * Unknown services yield SERVICE_UNKNOWN (and later their status once it becomes known).
   */
  async *watch(service: string, signal: AbortSignal): AsyncGenerator<Status> {
    const queue: Status[] = [];
    let wake: (() => void) | undefined;
    const listener: Listener = (s) => {
      queue.push(s);
      wake?.();
    };
    const onAbort = () => wake?.();
    let set = this.#listeners.get(service);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(service, set);
    }
    set.add(listener);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      let last: Status | undefined = (await this.evaluate(service)) ?? SERVICE_UNKNOWN;
      queue.length = 0;
      yield last;
      while (!signal.aborted) {
        if (queue.length === 0) {
          if (this.#shuttingDown) return;
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
          continue;
        }
        const next = queue.shift() as Status;
        if (next !== last) {
          last = next;
          yield next;
        }
      }
    } finally {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(service);
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Re-evaluate every service with checks every `intervalMs` (upstream: 30 s), so watchers see changes. */
  startPolling(intervalMs = 30_000): void {
    this.stopPolling();
    this.#poll = setInterval(() => {
      for (const service of this.#set.keys()) void this.evaluate(service);
    }, intervalMs);
    this.#poll.unref();
  }

  stopPolling(): void {
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.#poll = undefined;
  }

  /**
   * Shutting down: every service NOT_SERVING from now on (SERVING is ignored afterwards), polling stops and
   * Watch streams end after sending NOT_SERVING (so they do not hold up draining).
   */
  shutdown(): void {
    this.stopPolling();
    this.#shuttingDown = true;
    for (const service of [...this.#set.keys()]) this.setStatus(service, NOT_SERVING);
    // Wake every watcher (even of already NOT_SERVING services) so Watch streams end and drain completes.
    for (const listeners of this.#listeners.values()) for (const l of listeners) l(NOT_SERVING);
  }
}

/** The grpc.health.v1.Health implementation (Check, Watch, List) over a registry. */
export function createHealthService(registry: HealthRegistry): ServiceImpl<typeof Health> {
  return {
    async check(req) {
      const status = await registry.evaluate(req.service);
      if (status === undefined) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
      return { status };
    },
    async *watch(req, ctx) {
      for await (const status of registry.watch(req.service, ctx.signal)) yield { status };
    },
    async list() {
      const statuses: Record<string, { status: Status }> = {};
      for (const service of registry.services()) {
        statuses[service] = { status: (await registry.evaluate(service)) ?? SERVICE_UNKNOWN };
      }
      return { statuses };
    },
  };
}
