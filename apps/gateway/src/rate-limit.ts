/**
 * Token buckets keyed by identity or client IP. `take(key)` answers 0 when a token was taken, else the ms
 * until one is available (for RetryInfo). Idle buckets are full by definition and are evicted beyond
 * `maxKeys`, so memory stays bounded under spoofed-key floods.
 */

export interface BucketConfig {
  /** Tokens added per second. */
  readonly ratePerSecond: number;
  /** Bucket size (burst). */
  readonly burst: number;
}

export interface RateLimiter {
  /** 0 = allowed; > 0 = refused, retry after this many ms. */
  take(key: string): number;
}

export function createRateLimiter(
  config: BucketConfig,
  options: { maxKeys?: number; now?: () => number } = {},
): RateLimiter {
  const now = options.now ?? (() => performance.now());
  const maxKeys = options.maxKeys ?? 100_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const perMs = config.ratePerSecond / 1000;
  return {
    take(key) {
      const t = now();
      let b = buckets.get(key);
      if (b === undefined) {
        if (buckets.size >= maxKeys) {
          // Evict the oldest-inserted entry (Map keeps insertion order; refills re-insert below).
          const oldest = buckets.keys().next().value;
          if (oldest !== undefined) buckets.delete(oldest);
        }
        b = { tokens: config.burst, at: t };
      } else {
        buckets.delete(key);
        b.tokens = Math.min(config.burst, b.tokens + (t - b.at) * perMs);
        b.at = t;
      }
      buckets.set(key, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
      }
      return perMs <= 0 ? 60_000 : Math.ceil((1 - b.tokens) / perMs);
    },
  };
}
