/**
 * Fuzz inputs for one RPC, derived from its request descriptor (libs/testing descriptor-walker.ts) plus
 * seeded mutations: empty, NUL, unknown enum values, very long strings, boundary and random numbers, random
 * strings, huge repeated fields, deeply nested values (JSON Struct sites, nested groups in binary), random
 * bytes as a message, and garbage frames (bad envelopes, bad JSON). Structured cases are well-framed: the
 * services must answer them with a proper code (never INTERNAL/UNKNOWN); garbage frames must only not hang
 * or crash anything. Deterministic for a seed.
 */
import {
  create,
  type DescField,
  type DescMessage,
  type JsonObject,
  type JsonValue,
  ScalarType,
} from "@bufbuild/protobuf";
import {
  encodeBinary,
  encodeJson,
  type FieldSite,
  fieldSites,
  jsonWith,
  messageWith,
  minimalRequest,
  siteKind,
  withNulStrings,
  withUnknownEnumValues,
} from "@taskmaster/testing/descriptor-walker";

export interface FuzzCase {
  readonly label: string;
  /** False for garbage frames (only "no hang, nothing down" is asked of them). */
  readonly structured: boolean;
  /** Connect JSON body (undefined: no JSON form). */
  readonly json: Uint8Array | undefined;
  /** Binary message bytes, framed by the caller (undefined: no binary form). */
  readonly binary: Uint8Array | undefined;
  /** A whole raw body for binary protocols (garbage frames), sent as is. */
  readonly rawBinaryBody?: Uint8Array | undefined;
}

/** Mulberry32: a small seeded PRNG. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LONG = 200_000;
const HUGE_REPEATED = 10_000;
const DEEP = 3_000;
const MARKER = Symbol("fuzz-list");

const is64 = (t: ScalarType | undefined) =>
  t === ScalarType.INT64 ||
  t === ScalarType.SINT64 ||
  t === ScalarType.SFIXED64 ||
  t === ScalarType.UINT64 ||
  t === ScalarType.FIXED64;
const unsigned = (t: ScalarType | undefined) =>
  t === ScalarType.UINT32 || t === ScalarType.FIXED32 || t === ScalarType.UINT64 || t === ScalarType.FIXED64;

/** Boundary values of a numeric scalar: [JSON value, message value]. */
function boundaries(field: DescField): [JsonValue, unknown][] {
  const t = field.scalar;
  if (t === ScalarType.DOUBLE || t === ScalarType.FLOAT)
    return [
      ["NaN", Number.NaN],
      ["-Infinity", Number.NEGATIVE_INFINITY],
      [t === ScalarType.FLOAT ? 3.4e38 : 1.7e308, t === ScalarType.FLOAT ? 3.4e38 : 1.7e308],
      [-0, -0],
    ];
  if (is64(t))
    return unsigned(t)
      ? [["18446744073709551615", 18446744073709551615n]]
      : [
          ["9223372036854775807", 9223372036854775807n],
          ["-9223372036854775808", -9223372036854775808n],
        ];
  if (t === ScalarType.BOOL || t === ScalarType.STRING || t === ScalarType.BYTES) return [];
  return unsigned(t)
    ? [[4294967295, 4294967295]]
    : [
        [2147483647, 2147483647],
        [-2147483648, -2147483648],
      ];
}

function randomString(random: () => number, length: number): string {
  const pools = ["abc", "é漢字🙂", "'\";--", "%_\\*", "\u202e\u200b", " \t\n"];
  let out = "";
  while (out.length < length) {
    const pool = pools[Math.floor(random() * pools.length)] ?? "a";
    out += [...pool][Math.floor(random() * [...pool].length)] ?? "a";
  }
  return out;
}

/** Replaces the one-element list holding MARKER (made by jsonWith/messageWith) with `elements`. */
function expandList<T>(value: T, elements: unknown[]): T {
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      if (v.length === 1 && v[0] === MARKER) v.splice(0, 1, ...elements);
      else for (const x of v) visit(x);
    } else if (v !== null && typeof v === "object") for (const x of Object.values(v)) visit(x);
  };
  visit(value);
  return value;
}

/** `depth` nested start groups (field 19000, an unknown field) then their end groups. */
function nestedGroups(depth: number): Uint8Array {
  const start = [0xdb, 0xa8, 0x09]; // (19000 << 3) | 3 as a varint
  const end = [0xdc, 0xa8, 0x09]; // (19000 << 3) | 4
  const out = new Uint8Array(depth * 6);
  for (let i = 0; i < depth; i++) out.set(start, i * 3);
  for (let i = 0; i < depth; i++) out.set(end, depth * 3 + i * 3);
  return out;
}

function deepJson(depth: number): JsonValue {
  let v: JsonValue = "leaf";
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

/** Every fuzz case for a request type (the caller samples them). */
export function fuzzCases(schema: DescMessage, random: () => number): FuzzCase[] {
  const out: FuzzCase[] = [];
  const both = (label: string, json: JsonObject | undefined, message: () => unknown): void => {
    let binary: Uint8Array | undefined;
    try {
      binary = encodeBinary(schema, message() as never);
    } catch {
      binary = undefined;
    }
    out.push({ label, structured: true, json: json === undefined ? undefined : encodeJson(json), binary });
  };
  const min = minimalRequest(schema);
  both("empty", min.json, () => min.message);
  for (const c of [...withNulStrings(schema), ...withUnknownEnumValues(schema)])
    both(c.label, c.json, () => c.message ?? (undefined as never));
  const sites: FieldSite[] = fieldSites(schema);
  for (const site of sites) {
    const kind = siteKind(site.field);
    const path = site.path;
    if (kind === "string") {
      const long = "x".repeat(LONG);
      both(`long ${path}`, jsonWith(site, long), () => messageWith(schema, site, long));
      const r = randomString(random, 1 + Math.floor(random() * 300));
      both(`random ${path}`, jsonWith(site, r), () => messageWith(schema, site, r));
      both(`empty ${path}`, jsonWith(site, ""), () => messageWith(schema, site, ""));
    } else if (kind === "other") {
      for (const [j, m] of boundaries(site.field))
        both(`boundary ${path}=${String(j)}`, jsonWith(site, j), () => messageWith(schema, site, m));
    } else if (kind === "message" && site.field.message?.typeName === "google.protobuf.Struct") {
      out.push({
        label: `deep ${path}`,
        structured: true,
        json: encodeJson(jsonWith(site, { a: deepJson(DEEP) })),
        binary: undefined,
      });
    }
    if (site.field.fieldKind === "list") {
      const element: [JsonValue, unknown] =
        kind === "string"
          ? ["x", "x"]
          : kind === "message"
            ? [{}, undefined]
            : kind === "enum"
              ? [1, 1]
              : ["", ""];
      if (kind === "other" && site.field.scalar !== ScalarType.BYTES) {
        element[0] = site.field.scalar === ScalarType.BOOL ? true : 1;
        element[1] = site.field.scalar === ScalarType.BOOL ? true : is64(site.field.scalar) ? 1n : 1;
      }
      const jsonElems = Array.from({ length: HUGE_REPEATED }, () => element[0]);
      const json = expandList(jsonWith(site, MARKER as never), jsonElems);
      both(`huge repeated ${path}`, json, () => {
        if (kind === "message") {
          const msg = messageWith(schema, site, MARKER);
          const sub = site.field.message as DescMessage;
          return expandList(
            msg,
            Array.from({ length: HUGE_REPEATED }, () => create(sub)),
          );
        }
        return expandList(
          messageWith(schema, site, MARKER),
          Array.from({ length: HUGE_REPEATED }, () => element[1]),
        );
      });
    }
  }
  // Binary-only structure: random bytes as a message, deeply nested unknown groups.
  const bytes = new Uint8Array(1 + Math.floor(random() * 512)).map(() => Math.floor(random() * 256));
  out.push({ label: "random bytes", structured: true, json: undefined, binary: bytes });
  out.push({ label: "deep groups", structured: true, json: undefined, binary: nestedGroups(DEEP) });
  // Garbage frames.
  const garbage = (label: string, raw: Uint8Array | undefined, json: string | undefined) =>
    out.push({
      label,
      structured: false,
      json: json === undefined ? undefined : new TextEncoder().encode(json),
      binary: undefined,
      rawBinaryBody: raw,
    });
  garbage("frame: compressed flag without encoding", Uint8Array.of(1, 0, 0, 0, 1, 0), "{");
  garbage("frame: length past the body", Uint8Array.of(0, 0, 0, 1, 0, 8, 1), "[1,2,3]");
  garbage("frame: truncated prefix", Uint8Array.of(0, 0, 0), "\u0000\u00ff");
  garbage("frame: trailer flag from the client", Uint8Array.of(0x80, 0, 0, 0, 0), '"just a string"');
  garbage(
    "frame: random",
    new Uint8Array(64).map(() => Math.floor(random() * 256)),
    `{"a":${"[".repeat(DEEP)}`,
  );
  return out;
}
