/** Keys whose values are secrets wherever they appear (case-insensitive, `_`/`-` ignored). */
const SECRET_KEY = /(password|passwd|pwd|secret|token|authorization|apikey|privatekey|credential|cookie)/i;

/** Replace the password of a URL (`postgres://u:p@h/db` -> `postgres://u:***@h/db`); also `?password=`. */
export function maskUrl(value: string): string {
  return value
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)([^@/?#\s]*)@/gi, "$1***@")
    .replace(/([?&](?:password|sslpassword|token|secret)=)[^&#\s]*/gi, "$1***");
}

/** True when a key names a secret (`password`, `DB_PASSWORD`, `apiKey`, `api-key`, `Authorization` ...). */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key.replace(/[-_\s]/g, ""));
}

/** Deep copy with secret-named keys replaced by "***" and passwords inside URLs masked. */
export function maskSecrets(value: unknown, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === "string") return value.includes("://") || value.includes("=") ? maskUrl(value) : value;
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value)) return "[Circular]";
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSecretKey(k) && v !== undefined && v !== null ? "***" : maskSecrets(v, seen);
  }
  return out;
}
