/**
 * The in-process usage batcher of the render path (one per server, see render.wiring.ts).
 *
 * RenderTemplate and CreateTaskFromTemplate queue their usage log here instead of writing it in the request:
 * the log's id and time are fixed on `add`, the response names the log at once, and the queue is written every
 * `flushMs` (default 200 ms) or every `maxBatch` (default 500) usages with `TemplateUsageRepository.recordBatch`
 * (one transaction: one multi-row insert, one aggregate refresh per affected template). Flushes run one at a
 * time. A batch that fails as a whole (e.g. a referenced task was removed meanwhile) is retried row by row so
 * one bad row costs only itself; rows that still fail are reported to `onError` and dropped.
 *
 * `flushMs: 0` makes `add` synchronous (it resolves once its row is committed). `flush()` writes everything
 * queued so far (readers call it for read-your-writes); `stop()` flushes and makes later adds synchronous;
 * the server stops the batcher on shutdown before the ORM closes.
 */
import type { MikroORM } from "@mikro-orm/postgresql";
import { newId } from "@taskmaster/persistence/ids";
import {
  type QueuedUsageWrite,
  type TemplateUsageRepository,
  type TemplateUsageWrite,
  TemplateUsageRepository as UsageRepository,
} from "@taskmaster/persistence/template-usage.repository";
import { withCallerContext } from "@taskmaster/telemetry/caller-context";

/** Who writes a batch of usages (audit context of the flush). */
const BATCHER_AUDIT_CONTEXT = { actor: "system:template-usage-batcher" } as const;

export interface UsageBatcherOptions {
  readonly orm: MikroORM;
  /** Max time a usage waits in the queue (default 200 ms); 0 = every add is written before it resolves. */
  readonly flushMs?: number | undefined;
  /** Queue length that triggers an immediate flush (default 500); also the max rows per transaction. */
  readonly maxBatch?: number | undefined;
  /** Called with rows that could not be written (they are dropped). */
  readonly onError?: ((err: unknown, rows: readonly QueuedUsageWrite[]) => void) | undefined;
}

export interface UsageBatcherStats {
  /** Usages written. */
  written: number;
  /** Usages dropped because their row could not be written. */
  dropped: number;
  /** Transactions that wrote a batch. */
  batches: number;
}

export class UsageBatcher {
  private readonly flushMs: number;
  private readonly maxBatch: number;
  private queue: QueuedUsageWrite[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  readonly stats: UsageBatcherStats = { written: 0, dropped: 0, batches: 0 };

  constructor(private readonly opts: UsageBatcherOptions) {
    this.flushMs = Math.max(0, opts.flushMs ?? 200);
    this.maxBatch = Math.max(1, opts.maxBatch ?? 500);
  }

  /** Usages queued and not yet handed to a flush. */
  get pending(): number {
    return this.queue.length;
  }

  /** Queues a usage; returns its log id (immediately, or once written when synchronous or stopped). */
  async add(w: TemplateUsageWrite, requestId: string | null = null): Promise<string> {
    const item: QueuedUsageWrite = { ...w, id: newId(), usedAt: new Date(), requestId };
    this.queue.push(item);
    if (this.flushMs === 0 || this.stopped) await this.flush();
    else if (this.queue.length >= this.maxBatch) void this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => void this.flush(), this.flushMs);
      this.timer.unref();
    }
    return item.id;
  }

  /** Writes everything queued so far; never rejects (failures go to `onError`). */
  flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    // A batch holds many callers' usages: it is written as the batcher itself, never under the context of
    // whichever call happened to arm the timer or fill the batch.
    const run = this.chain.then(() => withCallerContext(BATCHER_AUDIT_CONTEXT, () => this.drain()));
    this.chain = run;
    return run;
  }

  /** Flushes and switches to synchronous writes (shutdown; call before the ORM closes). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.flush();
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      await this.write(batch);
    }
  }

  private repo(): TemplateUsageRepository {
    return new UsageRepository(this.opts.orm.em.fork());
  }

  private async write(batch: QueuedUsageWrite[]): Promise<void> {
    try {
      const { inserted } = await this.repo().recordBatch(batch);
      this.stats.written += inserted;
      this.stats.batches += 1;
      return;
    } catch (err) {
      if (batch.length === 1) {
        this.stats.dropped += 1;
        this.opts.onError?.(err, batch);
        return;
      }
    }
    for (const item of batch) await this.write([item]);
  }
}
