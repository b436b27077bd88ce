/**
 * The Handlebars render engine: one isolated Handlebars environment per engine, compiled templates cached per
 * (template, version, content hash) in a bounded LRU, safe runtime options (no prototype property or method
 * access), and limits on output size and render time.
 *
 * Render-time limit, honestly: Handlebars renders synchronously on the event loop and cannot be pre-empted.
 * The work a render does is linear in content size + input size (both bounded) except where block helpers
 * iterate (`each`, nested, partials inside loops). The engine therefore wraps the iterating/branching block
 * helpers (`each`, `with`, `if`, `unless`) so every block body call checks the elapsed time and the output
 * produced so far; past the deadline the render aborts with DEADLINE_EXCEEDED (reason RENDER_TIMEOUT), past
 * the output limit with RESOURCE_EXHAUSTED (SIZE_LIMIT_EXCEEDED). A single non-iterating step cannot be
 * interrupted, so the real bound is "limit + the longest single block step". A worker thread would give a
 * hard bound at the cost of a thread hop per render; the checks keep renders in-process and fast.
 */
import { createHash } from "node:crypto";
import { DeadlineExceededError, ResourceExhaustedError } from "@taskmaster/rpc-kit/errors";
import Handlebars from "handlebars";
import { LRUCache } from "lru-cache";

export interface RenderLimits {
  /** Max output characters (UTF-16 units; checked during iteration and at the end). */
  readonly maxOutputChars: number;
  /** Max wall time of one render, checked between block steps. */
  readonly maxRenderMs: number;
}

export const DEFAULT_RENDER_LIMITS: RenderLimits = { maxOutputChars: 1024 * 1024, maxRenderMs: 2_000 };

export class RenderTimeoutError extends DeadlineExceededError {
  constructor(ms: number) {
    super(`rendering exceeded the render time limit of ${ms} ms`, "RENDER_TIMEOUT");
  }
}

export class OutputTooLargeError extends ResourceExhaustedError {
  constructor(max: number) {
    super(undefined, `rendered output exceeds the limit of ${max} characters`, "SIZE_LIMIT_EXCEEDED");
  }
}

/** A Handlebars runtime failure (missing partial, bad helper use): the template's fault, not the caller's. */
export class RenderRuntimeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RenderRuntimeError";
  }
}

interface Guard {
  deadline: number;
  limits: RenderLimits;
  produced: number;
}

export type Compiled = HandlebarsTemplateDelegate;

export interface RenderSource {
  templateId: string;
  version: string;
  content: string;
}

export class RenderEngine {
  private readonly hb = Handlebars.create();
  private readonly cache: LRUCache<string, Compiled>;
  /** Renders are synchronous, so one "current" guard per engine is never shared by two renders. */
  private guard: Guard | null = null;

  constructor(
    readonly limits: RenderLimits = DEFAULT_RENDER_LIMITS,
    cacheSize = 500,
  ) {
    this.cache = new LRUCache({ max: cacheSize });
    const hb = this.hb;
    // `log` would write caller-controlled text to the console: make it a no-op.
    hb.registerHelper("log", () => "");
    const engine = this;
    for (const name of ["each", "with", "if", "unless"] as const) {
      const base = hb.helpers[name] as Handlebars.HelperDelegate;
      hb.registerHelper(name, function (this: unknown, ...args: unknown[]) {
        const options = args[args.length - 1] as Handlebars.HelperOptions;
        const wrap = (fn: Handlebars.TemplateDelegate | undefined) =>
          fn === undefined
            ? fn
            : Object.assign((ctx: unknown, opts?: Handlebars.RuntimeOptions) => {
                engine.tick(0);
                const out = fn(ctx, opts);
                engine.tick(out.length);
                return out;
              }, fn);
        const wrapped = { ...options, fn: wrap(options.fn), inverse: wrap(options.inverse) };
        return (base as (...a: unknown[]) => unknown).apply(this, [...args.slice(0, -1), wrapped]);
      });
    }
  }

  private tick(produced: number): void {
    const g = this.guard;
    if (g === null) return;
    g.produced += produced;
    if (g.produced > g.limits.maxOutputChars * 2) throw new OutputTooLargeError(g.limits.maxOutputChars);
    if (Date.now() > g.deadline) throw new RenderTimeoutError(g.limits.maxRenderMs);
  }

  /** Number of cached compiled templates (for tests and metrics). */
  get cachedTemplates(): number {
    return this.cache.size;
  }

  /** The compiled template for a version (cached; the content hash guards against reuse of stale entries). */
  compiled(src: RenderSource): Compiled {
    const key = `${src.templateId}@${src.version}#${createHash("sha1").update(src.content).digest("base64url")}`;
    let fn = this.cache.get(key);
    if (fn === undefined) {
      fn = this.hb.compile(src.content, { strict: false, preventIndent: true });
      this.cache.set(key, fn);
    }
    return fn;
  }

  /** Renders templates compiled by `compiled()` (a render plan keeps them), within the limits. */
  renderCompiled(
    fn: Compiled,
    compiledPartials: Record<string, Compiled>,
    context: Record<string, unknown>,
  ): string {
    const limits = this.limits;
    this.guard = { deadline: Date.now() + limits.maxRenderMs, limits, produced: 0 };
    try {
      const out = fn(context, {
        partials: compiledPartials,
        allowProtoPropertiesByDefault: false,
        allowProtoMethodsByDefault: false,
        allowCallsToHelperMissing: false,
      });
      if (out.length > limits.maxOutputChars) throw new OutputTooLargeError(limits.maxOutputChars);
      return out;
    } catch (err) {
      if (err instanceof RenderTimeoutError || err instanceof OutputTooLargeError) throw err;
      throw new RenderRuntimeError(String((err as Error)?.message ?? err).slice(0, 500));
    } finally {
      this.guard = null;
    }
  }
}
