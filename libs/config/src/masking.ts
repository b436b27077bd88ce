/**
 * THE masking policy: one place that decides what counts as a secret, used by every sink (logs, config
 * output, usage-log inputs, audit values, security events). Two rules:
 *
 * - Keys: a value under a secret-named key (`password`, `DB_PASSWORD`, `apiKey`, `Authorization`,
 *   `private_key`, ...; case-insensitive, `_`/`-`/space ignored) is replaced entirely by {@link MASK}.
 * - Value patterns: inside any string, secret shapes are replaced wherever they appear (connection-string
 *   passwords, `password=...` pairs, bearer/basic credentials, JWTs, PEM private keys, AWS access keys,
 *   well-known token prefixes).
 *
 * Configurable: {@link createMaskingPolicy} adds keys and patterns (e.g. from `TASKMASTER_MASK_KEYS` /
 * `TASKMASTER_MASK_PATTERNS`, see {@link maskingOptionsFromEnv}) for a sink that is handed the policy; the
 * process-wide policy behind {@link maskValue}/{@link maskObject}/{@link isSecretKey} is the built-in one and
 * never changes.
 */

export const MASK = "***";

/** One value pattern: every match of `pattern` (must be global) is replaced by `replace`. */
export interface MaskPattern {
  readonly name: string;
  readonly pattern: RegExp;
  /** Replacement (may use `$1` ...); default {@link MASK}. */
  readonly replace?: string | undefined;
}

export interface MaskingOptions {
  /** Extra secret key fragments (matched like the defaults: normalized substring). */
  readonly extraKeys?: readonly string[] | undefined;
  /** Extra value patterns, applied after the defaults. */
  readonly extraPatterns?: readonly MaskPattern[] | undefined;
  /** Maximum depth of {@link MaskingPolicy.maskObject} (deeper values become "[Truncated]"); default 32. */
  readonly maxDepth?: number | undefined;
}

export interface MaskingPolicy {
  /** True when `key` names a secret. */
  isSecretKey(key: string): boolean;
  /** `value` with every secret shape masked. */
  maskValue(value: string): string;
  /** Deep copy: secret-named keys -> "***", every string through {@link maskValue}; cycles -> "[Circular]". */
  maskObject(value: unknown): unknown;
}

/** Secret key fragments (normalized: lower case, without `_`, `-`, spaces). */
export const DEFAULT_SECRET_KEYS: readonly string[] = [
  "password",
  "passwd",
  "passphrase",
  "pwd",
  "secret",
  "token",
  "apikey",
  "authorization",
  "privatekey",
  "credential",
  "cookie",
  "accesskey",
  "sessionkey",
  "signingkey",
  "jwtassertion",
];

// Words that make a free-text `key=value` / `key: value` a secret pair.
const SECRET_WORD = String.raw`[A-Za-z0-9_.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|private[_-]?key|access[_-]?key|credential|authorization|cookie)[A-Za-z0-9_-]*`;

/** The default value patterns, in application order. */
export const DEFAULT_MASK_PATTERNS: readonly MaskPattern[] = [
  {
    name: "pem_private_key",
    pattern:
      /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----[\s\S]*?(?:-----END \1PRIVATE KEY\2-----|$)/g,
    replace: `-----BEGIN $1PRIVATE KEY$2-----${MASK}-----END $1PRIVATE KEY$2-----`,
  },
  {
    name: "url_password",
    pattern: /(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)([^@/?#\s]*)@/gi,
    replace: `$1${MASK}@`,
  },
  {
    name: "authorization_scheme",
    pattern: /\b(Bearer|Basic|Digest|Token|Negotiate|AWS4-HMAC-SHA256)(\s+)[A-Za-z0-9._~+/=,:-]{6,}/gi,
    replace: `$1$2${MASK}`,
  },
  {
    name: "jwt",
    pattern: /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g,
  },
  {
    // "password": "x" inside JSON text.
    name: "json_secret_pair",
    pattern: new RegExp(String.raw`("${SECRET_WORD}"\s*:\s*)"(?:[^"\\]|\\.)*"`, "gi"),
    replace: `$1"${MASK}"`,
  },
  {
    // password=x, ?token=x, DB_PASSWORD: x, Authorization: x (but not "password: ***").
    name: "secret_pair",
    pattern: new RegExp(String.raw`(\b${SECRET_WORD}\s*[=:]\s*)(['"]?)(?!\*\*\*)[^\s'"&,;]+\2`, "gi"),
    replace: `$1$2${MASK}$2`,
  },
  { name: "aws_access_key_id", pattern: /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b/g },
  {
    // GitHub, Slack, Stripe, Google API keys, npm tokens.
    name: "vendor_token",
    pattern:
      /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abpors]-[A-Za-z0-9-]{10,}|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|AIza[0-9A-Za-z_-]{35}|npm_[A-Za-z0-9]{36})\b/g,
  },
];

const normalizeKey = (key: string) => key.replace(/[-_\s.]/g, "").toLowerCase();

// Cheap pre-check: a string without any of these cannot match a default pattern.
const MAYBE_SECRET =
  /:\/\/|=|:|-----BEGIN|bearer|basic|digest|token|negotiate|aws4|eyJ|A[KSGIRNP][A-Z]A|gh[pousr]_|github_pat|xox|k_live|k_test|AIza|npm_/i;

/** A masking policy: the defaults plus `options`. */
export function createMaskingPolicy(options: MaskingOptions = {}): MaskingPolicy {
  const keys = [...DEFAULT_SECRET_KEYS, ...(options.extraKeys ?? []).map(normalizeKey)].filter(
    (k) => k.length > 0,
  );
  const keyRe = new RegExp(keys.map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"));
  const extra = options.extraPatterns ?? [];
  for (const p of extra) {
    if (!p.pattern.global) throw new Error(`mask pattern ${p.name} must be global (flag g)`);
  }
  const maxDepth = options.maxDepth ?? 32;

  const isSecretKey = (key: string) => keyRe.test(normalizeKey(key));

  const maskValue = (value: string): string => {
    let out = value;
    if (MAYBE_SECRET.test(out)) {
      for (const p of DEFAULT_MASK_PATTERNS) out = out.replace(p.pattern, p.replace ?? MASK);
    }
    for (const p of extra) out = out.replace(p.pattern, p.replace ?? MASK);
    return out;
  };

  const walk = (value: unknown, depth: number, seen: WeakSet<object>): unknown => {
    if (typeof value === "string") return maskValue(value);
    if (value === null || typeof value !== "object") return value;
    if (seen.has(value)) return "[Circular]";
    if (depth >= maxDepth) return "[Truncated]";
    if (value instanceof Date) return value;
    seen.add(value);
    try {
      if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1, seen));
      if (value instanceof Map) {
        return new Map(
          [...value].map(([k, v]) => [
            k,
            typeof k === "string" && isSecretKey(k) && v !== undefined && v !== null
              ? MASK
              : walk(v, depth + 1, seen),
          ]),
        );
      }
      if (value instanceof Error) {
        return { name: value.name, message: maskValue(value.message) };
      }
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        out[k] = isSecretKey(k) && v !== undefined && v !== null ? MASK : walk(v, depth + 1, seen);
      }
      return out;
    } finally {
      seen.delete(value);
    }
  };

  return { isSecretKey, maskValue, maskObject: (value) => walk(value, 0, new WeakSet()) };
}

const defaultPolicy = createMaskingPolicy();

/** The process-wide policy. */
export function maskingPolicy(): MaskingPolicy {
  return defaultPolicy;
}

/** The regular expression sources of a `TASKMASTER_MASK_PATTERNS` value (`;;`-separated, trimmed). */
export function splitMaskPatterns(value: string | undefined): string[] {
  return (value ?? "")
    .split(";;")
    .map((p) => p.trim())
    .filter((p) => p !== "");
}

/**
 * Options from the environment: `TASKMASTER_MASK_KEYS` (comma-separated key fragments),
 * `TASKMASTER_MASK_PATTERNS` (`;;`-separated regular expression sources, matched case-insensitively).
 */
export function maskingOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): MaskingOptions {
  const keys = (env.TASKMASTER_MASK_KEYS ?? "")
    .split(",")
    .map((k) => k.trim())
    .filter((k) => k !== "");
  const patterns = splitMaskPatterns(env.TASKMASTER_MASK_PATTERNS).map((source, i) => ({
    name: `env_${i + 1}`,
    pattern: new RegExp(source, "gi"),
  }));
  return { extraKeys: keys, extraPatterns: patterns };
}

/** True when `key` names a secret under the process-wide policy. */
export function isSecretKey(key: string): boolean {
  return defaultPolicy.isSecretKey(key);
}

/** `value` with every secret shape masked (process-wide policy). */
export function maskValue(value: string): string {
  return defaultPolicy.maskValue(value);
}

/** Deep-masked copy of `value` (process-wide policy). */
export function maskObject(value: unknown): unknown {
  return defaultPolicy.maskObject(value);
}
