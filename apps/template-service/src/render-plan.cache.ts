/**
 * The per-server render-plan cache: (template id, requested version) -> RenderPlan (render-plan.ts), so a
 * render of a cached plan needs no database round trip (authorization still runs its query per call).
 *
 * Freshness:
 *  - Every committed change to a row deciding a render sends NOTIFY template_changed (migration
 *    Migration20261126130000_template_render_notify). One LISTEN connection per server drops the plans
 *    depending on the changed template ('*': all). Window: a change committed by ANOTHER server is seen
 *    here once its notification arrives (normally milliseconds after commit).
 *  - Writes through THIS server clear the cache before their response is sent (render-plan.interceptor.ts),
 *    so a caller always reads its own writes through the same server.
 *  - While the LISTEN connection is not established (not yet connected, broken, reconnecting) the cache is
 *    bypassed: every render reads the database. It is cleared whenever the connection drops or comes up.
 *  - A load that overlapped any invalidation is not stored (generation counter), so a plan read before a
 *    change can never be stored after that change's notification.
 *  - Hard bound: entries expire `ttlMs` after loading (default 60 s), covering a LISTEN connection that
 *    silently stopped delivering (no error raised).
 * Failures before a version resolves (NOT_FOUND, inactive, ...) are not cached.
 */
import type { MikroORM } from "@mikro-orm/postgresql";
import { TemplateChangeListener } from "@taskmaster/persistence/template-changes.repository";
import { LRUCache } from "lru-cache";
import type { SchemaChecker } from "./json-schema.js";
import type { RenderEngine } from "./render.engine.js";
import { loadRenderPlan, type RenderPlan } from "./render-plan.js";

export interface RenderPlanCacheOptions {
  /** Max cached plans (least recently used dropped first; default 1000). */
  readonly maxEntries?: number;
  /** Max age of a cached plan (default 60 000 ms). */
  readonly ttlMs?: number;
  /** Delay before reconnecting a dropped LISTEN connection (default 1000 ms). */
  readonly reconnectMs?: number;
  /** false: never cache (every render reads the database). */
  readonly enabled?: boolean;
  /** Told about LISTEN connection failures. */
  readonly onError?: (error: unknown) => void;
}

interface Entry {
  readonly plan: RenderPlan;
  readonly expiresAt: number;
}

export class RenderPlanCache {
  private readonly entries: LRUCache<string, Entry>;
  private generation = 0;
  private listening = false;
  private stopped = false;
  private readonly listener: TemplateChangeListener;
  private readonly ttlMs: number;
  private readonly enabled: boolean;
  /** Counters (tests and metrics). */
  readonly stats = { hits: 0, misses: 0, bypassed: 0, invalidations: 0 };

  constructor(
    private readonly orm: MikroORM,
    private readonly engine: RenderEngine,
    private readonly schemas: SchemaChecker,
    options: RenderPlanCacheOptions = {},
  ) {
    this.entries = new LRUCache({ max: options.maxEntries ?? 1000 });
    this.ttlMs = options.ttlMs ?? 60_000;
    this.enabled = options.enabled ?? true;
    this.listener = new TemplateChangeListener(
      orm,
      {
        onChange: (id) => this.invalidate(id),
        onUp: () => {
          // Anything read before LISTEN was active may have missed a change: start empty.
          this.invalidate("*");
          this.listening = true;
        },
        onDown: (error) => {
          this.listening = false;
          this.invalidate("*");
          if (!this.stopped) options.onError?.(error);
        },
      },
      options.reconnectMs ?? 1000,
      30_000,
      (error) => options.onError?.(error),
    );
  }

  /** The plan of `templateId` at `pin` ("" = default version): cached, else read (and cached if allowed). */
  async get(templateId: string, pin: string): Promise<RenderPlan> {
    if (this.enabled && !this.stopped) this.listener.start();
    const key = `${templateId}@${pin}`;
    if (this.listening) {
      const hit = this.entries.get(key);
      if (hit !== undefined && hit.expiresAt > Date.now()) {
        this.stats.hits++;
        return hit.plan;
      }
      this.stats.misses++;
    } else this.stats.bypassed++;
    const generation = this.generation;
    const startedAt = Date.now();
    const plan = await loadRenderPlan(this.orm.em.fork(), this.engine, this.schemas, templateId, pin);
    // Store only if nothing was invalidated since the read began and changes are being listened to.
    if (this.listening && generation === this.generation) {
      this.entries.set(key, { plan, expiresAt: startedAt + this.ttlMs });
    }
    return plan;
  }

  /** Drops the plans depending on `templateId` ('*': every plan). */
  invalidate(templateId: string): void {
    this.generation++;
    this.stats.invalidations++;
    if (templateId === "*") {
      this.entries.clear();
      return;
    }
    const id = templateId.toLowerCase();
    const stale = [...this.entries.entries()].filter(([, e]) => e.plan.dependsOn.has(id)).map(([key]) => key);
    for (const key of stale) this.entries.delete(key);
  }

  /** Number of cached plans. */
  get size(): number {
    return this.entries.size;
  }

  /** True while the LISTEN connection is up (plans are cached only then). */
  get isListening(): boolean {
    return this.listening;
  }

  /** Opens the LISTEN connection now (otherwise the first render does). */
  start(): void {
    if (this.enabled) this.listener.start();
  }

  /** Closes the LISTEN connection for good; the cache is bypassed from now on. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.listener.stop();
    this.listening = false;
    this.invalidate("*");
  }
}
