/**
 * THE page-token codec of every List in the repositories. A token is `base64url(JSON [tag, binding, ...fields])`:
 * `tag` names the list (and its token version), `binding` is the digest of every other request field the
 * token was issued for, `fields` the keyset position (sort key(s) and row id) or an offset. A malformed or
 * foreign token throws {@link InvalidPageTokenError}; the services' error interceptor map answers it with
 * INVALID_ARGUMENT, reason INVALID_PAGE_TOKEN, field violation on `page_token` (handlers do not translate it).
 */
import { createHash } from "node:crypto";

/** A malformed page token, or one issued for a different query (INVALID_ARGUMENT on `page_token`). */
export class InvalidPageTokenError extends Error {
  constructor() {
    super("invalid page token");
    this.name = "InvalidPageTokenError";
  }
}

/** A keyset position: the sort key rendered as text plus the row id. */
export interface KeysetPosition {
  key: string;
  id: string;
}

/** Short digest of the request fields a token is bound to. */
export function bindingDigest(binding: string): string {
  return createHash("sha256").update(binding).digest("base64url").slice(0, 16);
}

/** Checks for one field of a token. */
export type TokenFieldCheck = (v: unknown) => boolean;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_MICROS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

export const tokenField = {
  uuid: (v: unknown): boolean => typeof v === "string" && UUID_RE.test(v),
  /** A string of at most `max` characters. */
  text:
    (max: number): TokenFieldCheck =>
    (v) =>
      typeof v === "string" && v.length <= max,
  /** A string matching `re`. */
  matching:
    (re: RegExp): TokenFieldCheck =>
    (v) =>
      typeof v === "string" && re.test(v),
  /** Microseconds since the epoch as a decimal string. */
  micros: (v: unknown): boolean => typeof v === "string" && /^-?[0-9]{1,20}$/.test(v),
  /** An ISO-8601 UTC timestamp with microseconds. */
  isoMicros: (v: unknown): boolean => typeof v === "string" && ISO_MICROS_RE.test(v),
  /** A non-negative integer. */
  count: (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0,
  /** 0 or 1. */
  bit: (v: unknown): boolean => v === 0 || v === 1,
} as const;

/** An opaque token carrying `fields`, bound to `binding` (pass a digest when the binding is long). */
export function encodePageToken(tag: string, binding: string, fields: readonly unknown[]): string {
  return Buffer.from(JSON.stringify([tag, binding, ...fields])).toString("base64url");
}

/**
 * The fields of a token issued by {@link encodePageToken} with the same tag and binding, each passing its
 * check; throws {@link InvalidPageTokenError} otherwise.
 */
export function decodePageToken(
  token: string,
  tag: string,
  binding: string,
  checks: readonly TokenFieldCheck[],
): unknown[] {
  try {
    const v: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (
      Array.isArray(v) &&
      v.length === checks.length + 2 &&
      v[0] === tag &&
      v[1] === binding &&
      checks.every((check, i) => check(v[i + 2]))
    ) {
      return v.slice(2);
    }
  } catch {
    // fall through
  }
  throw new InvalidPageTokenError();
}

/** Token of a (sort key, id) keyset position. */
export function encodeKeysetToken(tag: string, binding: string, position: KeysetPosition): string {
  return encodePageToken(tag, binding, [position.key, position.id]);
}

/** The (sort key, id) position of a keyset token; `key` checks the sort key (default: at most 300 chars). */
export function decodeKeysetToken(
  token: string,
  tag: string,
  binding: string,
  key: TokenFieldCheck = tokenField.text(300),
): KeysetPosition {
  const [k, id] = decodePageToken(token, tag, binding, [key, tokenField.uuid]);
  return { key: k as string, id: id as string };
}

/** Token of an offset (lists ordered by a computed score). */
export function encodeOffsetToken(tag: string, binding: string, offset: number): string {
  return encodePageToken(tag, binding, [offset]);
}

export function decodeOffsetToken(token: string, tag: string, binding: string): number {
  return decodePageToken(token, tag, binding, [tokenField.count])[0] as number;
}

/**
 * One page out of the `pageSize + 1` rows a keyset query read: the first `pageSize` rows mapped, and when
 * more follow, the token of the last one (its `keyColumn` as the sort key, `id` as the row id).
 */
export function keysetPage<T>(
  rows: readonly Record<string, unknown>[],
  pageSize: number,
  map: (row: Record<string, unknown>) => T,
  token: { tag: string; binding: string; keyColumn?: string },
): { items: T[]; nextPageToken: string | null } {
  const page = rows.slice(0, pageSize);
  const last = page[page.length - 1];
  return {
    items: page.map(map),
    nextPageToken:
      rows.length > pageSize && last !== undefined
        ? encodeKeysetToken(token.tag, token.binding, {
            key: String(last[token.keyColumn ?? "page_key"]),
            id: String(last.id),
          })
        : null,
  };
}
