/**
 * Compatibility layer over the one masking policy (`masking.ts`): the names the services already import.
 */
import { MASK, maskObject, maskValue, isSecretKey as policyIsSecretKey } from "./masking.js";

/** Replace the password of a URL (`postgres://u:p@h/db` -> `postgres://u:***@h/db`); also `?password=`. */
export function maskUrl(value: string): string {
  return maskValue(value);
}

/** True when a key names a secret (`password`, `DB_PASSWORD`, `apiKey`, `api-key`, `Authorization` ...). */
export function isSecretKey(key: string): boolean {
  return policyIsSecretKey(key);
}

/** Deep copy with secret-named keys replaced by "***" and secret shapes inside strings masked. */
export function maskSecrets(value: unknown): unknown {
  return maskObject(value);
}

export { MASK };
