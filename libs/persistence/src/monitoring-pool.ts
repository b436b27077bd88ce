/**
 * Statistics of this process's `pg` pool behind MikroORM: size (pg-pool's totalCount/idleCount/waitingCount
 * and options.min/max) plus acquire wait times, measured by wrapping the pool's `connect()` (pg-pool itself
 * does not track waits). One tracker per pool; `poolTracker(orm)` returns the same one on every call.
 */
import type { MikroORM } from "@mikro-orm/postgresql";

export interface PoolSnapshot {
  readonly pool: string;
  readonly min: number;
  readonly max: number;
  readonly total: number;
  readonly idle: number;
  readonly inUse: number;
  readonly waiting: number;
  readonly acquireCount: number;
  readonly acquireTimeoutCount: number;
  /** Mean acquire wait since start (ms). */
  readonly meanAcquireWaitMs: number;
  /** 95th percentile acquire wait over the last minute (ms). */
  readonly p95AcquireWaitMs: number;
  readonly sampleTime: Date;
}

interface PgPoolLike {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options: { min?: number; max?: number };
  connect: (...args: unknown[]) => unknown;
}

export interface PoolTracker {
  snapshot(): PoolSnapshot;
  /** Listener for every measured acquire (ms), e.g. a histogram. */
  onAcquire(listener: (waitMs: number) => void): void;
}

const WINDOW_MS = 60_000;
const RECENT_CAP = 10_000;
/** Where a pool keeps its tracker: `connect` must be wrapped once per pool, however often it is asked for. */
const TRACKER = Symbol("taskmaster.poolTracker");

function isTimeout(err: unknown): boolean {
  return err instanceof Error && /timeout/i.test(err.message);
}

function track(pool: PgPoolLike, name: string): PoolTracker {
  let count = 0;
  let timeouts = 0;
  let totalWaitMs = 0;
  // Acquire waits of the last minute, at most RECENT_CAP of them: a ring buffer (oldest at `head`), so the
  // per-acquire bookkeeping stays O(1) on the hot path.
  const recentAt = new Float64Array(RECENT_CAP);
  const recentMs = new Float64Array(RECENT_CAP);
  let head = 0;
  let size = 0;
  const listeners: ((ms: number) => void)[] = [];
  const record = (startNs: bigint, ok: boolean, err?: unknown) => {
    const ms = Number(process.hrtime.bigint() - startNs) / 1e6;
    if (!ok) {
      if (isTimeout(err)) timeouts++;
      return;
    }
    count++;
    totalWaitMs += ms;
    const now = Date.now();
    while (size > 0 && (recentAt[head] as number) < now - WINDOW_MS) {
      head = (head + 1) % RECENT_CAP;
      size--;
    }
    if (size === RECENT_CAP) {
      head = (head + 1) % RECENT_CAP;
      size--;
    }
    const slot = (head + size) % RECENT_CAP;
    recentAt[slot] = now;
    recentMs[slot] = ms;
    size++;
    for (const l of listeners) l(ms);
  };
  const original = pool.connect.bind(pool);
  pool.connect = (...args: unknown[]) => {
    const start = process.hrtime.bigint();
    const cb = args[0];
    if (typeof cb === "function") {
      return original((err: unknown, ...rest: unknown[]) => {
        record(start, !err, err);
        (cb as (...a: unknown[]) => void)(err, ...rest);
      });
    }
    return (original() as Promise<unknown>).then(
      (client) => {
        record(start, true);
        return client;
      },
      (err: unknown) => {
        record(start, false, err);
        throw err;
      },
    );
  };
  return {
    onAcquire(listener) {
      listeners.push(listener);
    },
    snapshot() {
      const now = Date.now();
      const window: number[] = [];
      for (let i = 0; i < size; i++) {
        const slot = (head + i) % RECENT_CAP;
        if ((recentAt[slot] as number) >= now - WINDOW_MS) window.push(recentMs[slot] as number);
      }
      window.sort((a, b) => a - b);
      const p95 = window.length === 0 ? 0 : (window[Math.ceil(window.length * 0.95) - 1] ?? 0);
      return {
        pool: name,
        min: pool.options.min ?? 0,
        max: pool.options.max ?? 10,
        total: pool.totalCount,
        idle: pool.idleCount,
        inUse: Math.max(0, pool.totalCount - pool.idleCount),
        waiting: pool.waitingCount,
        acquireCount: count,
        acquireTimeoutCount: timeouts,
        meanAcquireWaitMs: count === 0 ? 0 : totalWaitMs / count,
        p95AcquireWaitMs: p95,
        sampleTime: new Date(now),
      };
    },
  };
}

/** The pool tracker of `orm`'s current pool (created and attached to the pool on first call). */
export async function poolTracker(orm: MikroORM, name = "default"): Promise<PoolTracker> {
  const pool = (await orm.em.getConnection().getNativeClient()) as unknown as PgPoolLike & {
    [TRACKER]?: PoolTracker;
  };
  pool[TRACKER] ??= track(pool, name);
  return pool[TRACKER];
}
