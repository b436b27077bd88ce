/**
 * THE request check: what every request must satisfy whatever its RPC, derived from the descriptors.
 * Every service runs it once per call in its interceptor chain (`createRequestCheckInterceptor`, installed
 * by `createGrpcServer`), the gateway on its router and when it decodes JSON (`parseJsonRequest`).
 *
 * Refused with INVALID_ARGUMENT and one `google.rpc.BadRequest` field violation per problem (bounded):
 * - unknown fields in JSON (`UNKNOWN_FIELD`, naming the key as sent). Binary protobuf keeps unknown fields:
 *   a newer client may send fields this server does not know yet (rolling deploys).
 * - unknown enum values (`UNKNOWN_ENUM_VALUE`): names in JSON, numbers in every encoding (protobuf-es keeps
 *   an unknown number of an open enum as a plain number), listing the accepted names (at most 20).
 * - a NUL character in any string, map key included (`NUL_CHARACTER`): no text column can store it.
 * - sizes (`TOO_LONG`, `TOO_MANY`, `TOO_DEEP`): strings, repeated fields and maps, message nesting.
 *
 * Field paths use proto field names (`task.priority`, `labels[2]`); a map's keys and scalar values are
 * named by the map field (`metadata`), its message values by key (`steps[k].name`), and anything inside a
 * well-known type by the field holding it (`task.custom_fields` for a Struct). Per message type a
 * plan (which fields can hold anything to check) is computed once per checker and cached there, so a
 * message with no strings, enums or nested messages costs nothing; nothing is walked twice.
 */
import {
  type DescEnum,
  type DescField,
  type DescMessage,
  fromJson,
  type JsonValue,
  type Message,
  ScalarType,
} from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { clipChars } from "./error-bounds.js";
import { type FieldViolation, InvalidArgumentError } from "./errors.js";

export interface RequestCheckLimits {
  /** Characters of one string at most (default 4 194 304: above every field's own limit, so the handler's validation names those). */
  readonly maxStringChars?: number | undefined;
  /** Elements of one repeated field or entries of one map at most (default 10 000). */
  readonly maxElements?: number | undefined;
  /** Nesting depth of messages at most (default 32). */
  readonly maxDepth?: number | undefined;
  /** Violations collected per request at most (default 21: one more than an error lists). */
  readonly maxViolations?: number | undefined;
}

/** Accepted enum names listed in a violation at most. */
export const MAX_ENUM_NAMES = 20;

export interface RequestChecker {
  /** Problems of a decoded message (enum numbers, NUL, sizes); empty when it is acceptable. */
  checkMessage(schema: DescMessage, message: Message): FieldViolation[];
  /** Problems of a JSON request before decoding (unknown keys and enum values, NUL, sizes). */
  checkJson(schema: DescMessage, json: JsonValue): FieldViolation[];
}

interface FieldPlan {
  readonly field: DescField;
  /** Key of the value on the message object: the oneof's local name for oneof members. */
  readonly key: string;
  readonly oneofCase: string | undefined;
}

const WKT_PREFIX = "google.protobuf.";

export function createRequestChecker(limits: RequestCheckLimits = {}): RequestChecker {
  const maxString = limits.maxStringChars ?? 4_194_304;
  const maxElements = limits.maxElements ?? 10_000;
  const maxDepth = limits.maxDepth ?? 32;
  const maxViolations = limits.maxViolations ?? 21;
  const plans = new Map<DescMessage, FieldPlan[]>();
  const enumNumbers = new Map<DescEnum, Set<number>>();

  const numbersOf = (e: DescEnum): Set<number> => {
    let set = enumNumbers.get(e);
    if (set === undefined) {
      set = new Set(e.values.map((v) => v.number));
      enumNumbers.set(e, set);
    }
    return set;
  };

  /** Fields of `desc` that can hold a string, an enum or a message (others never need a look). */
  const planOf = (desc: DescMessage): FieldPlan[] => {
    let plan = plans.get(desc);
    if (plan === undefined) {
      plan = [];
      for (const field of desc.fields) {
        const relevant =
          field.fieldKind === "enum" ||
          field.fieldKind === "message" ||
          field.fieldKind === "map" ||
          field.fieldKind === "list" ||
          (field.fieldKind === "scalar" && field.scalar === ScalarType.STRING);
        if (!relevant) continue;
        plan.push({
          field,
          key: field.oneof?.localName ?? field.localName,
          oneofCase: field.oneof === undefined ? undefined : field.localName,
        });
      }
      plans.set(desc, plan);
    }
    return plan;
  };

  function checkMessage(schema: DescMessage, message: Message): FieldViolation[] {
    const out: FieldViolation[] = [];
    const full = () => out.length >= maxViolations;
    const str = (path: string, v: string) => {
      if (v.length > maxString) out.push(tooLong(path, v.length, maxString));
      else if (v.includes("\0")) out.push(nul(path));
    };
    const enm = (path: string, e: DescEnum, v: number) => {
      if (!numbersOf(e).has(v)) out.push(unknownEnum(path, e, String(v)));
    };
    const count = (path: string, n: number) => {
      if (n > maxElements) out.push(tooMany(path, n, maxElements));
      return n <= maxElements;
    };
    /** Every string (object keys included) of a plain JSON value, reported at `path`. */
    const json = (path: string, v: JsonValue, depth: number): void => {
      if (full()) return;
      if (typeof v === "string") str(path, v);
      else if (v !== null && typeof v === "object") {
        if (depth > maxDepth) {
          out.push(tooDeep(path, maxDepth));
          return;
        }
        if (Array.isArray(v)) {
          if (count(path, v.length)) for (const item of v) json(path, item, depth + 1);
        } else {
          const entries = Object.entries(v);
          if (!count(path, entries.length)) return;
          for (const [k, item] of entries) {
            str(path, k);
            json(path, item as JsonValue, depth + 1);
          }
        }
      }
    };
    /** A message value: google.protobuf.Struct / Value / ListValue may be held as plain JSON (protobuf-es). */
    const enter = (desc: DescMessage, v: unknown, at: string, depth: number, pinned: string | undefined) => {
      if (v !== null && typeof v === "object" && (v as { $typeName?: string }).$typeName !== undefined) {
        walk(desc, v as Record<string, unknown>, `${at}.`, depth, pinned);
      } else json(pinned ?? at, v as JsonValue, depth);
    };
    // `pinned`: inside a well-known type (Struct, Value, ...) every problem is reported at the field that
    // holds it (`task.custom_fields`), as the handlers' validators name it.
    const walk = (
      desc: DescMessage,
      msg: Record<string, unknown>,
      prefix: string,
      depth: number,
      pinned?: string,
    ): void => {
      if (depth > maxDepth) {
        out.push(tooDeep(pinned ?? prefix.slice(0, -1), maxDepth));
        return;
      }
      if (pinned === undefined && desc.typeName.startsWith(WKT_PREFIX) && prefix !== "") {
        pinned = prefix.slice(0, -1);
      }
      for (const { field, key, oneofCase } of planOf(desc)) {
        if (full()) return;
        let v = msg[key];
        if (oneofCase !== undefined) {
          const o = v as { case: string | undefined; value?: unknown } | undefined;
          if (o?.case !== oneofCase) continue;
          v = o.value;
        }
        if (v === undefined || v === null) continue;
        const path = pinned ?? prefix + field.name;
        switch (field.fieldKind) {
          case "scalar":
            str(path, v as string);
            break;
          case "enum":
            enm(path, field.enum, v as number);
            break;
          case "message":
            enter(field.message, v, path, depth + 1, pinned);
            break;
          case "list": {
            const list = v as unknown[];
            if (list.length === 0 || !count(path, list.length)) break;
            for (let i = 0; i < list.length && !full(); i++) {
              const item = list[i];
              const at = pinned ?? `${path}[${i}]`;
              if (field.listKind === "message") enter(field.message, item, at, depth + 1, pinned);
              else if (field.listKind === "enum") enm(at, field.enum, item as number);
              else if (typeof item === "string") str(at, item);
            }
            break;
          }
          case "map": {
            // Keys and scalar values are reported at the map field (no key echoed); message values by key.
            const entries = Object.entries(v as Record<string, unknown>);
            if (entries.length === 0 || !count(path, entries.length)) break;
            for (const [k, item] of entries) {
              if (full()) break;
              str(path, k);
              if (field.mapKind === "message") {
                const at = pinned ?? `${path}[${clipChars(k, 40).replaceAll("\0", "\\0")}]`;
                enter(field.message, item, at, depth + 1, pinned);
              } else if (field.mapKind === "enum") enm(path, field.enum, item as number);
              else if (typeof item === "string") str(path, item);
            }
            break;
          }
        }
      }
    };
    walk(schema, message as unknown as Record<string, unknown>, "", 0);
    return out;
  }

  function checkJson(schema: DescMessage, json: JsonValue): FieldViolation[] {
    const out: FieldViolation[] = [];
    const full = () => out.length >= maxViolations;
    const str = (path: string, v: JsonValue) => {
      if (typeof v !== "string") return;
      if (v.length > maxString) out.push(tooLong(path, v.length, maxString));
      else if (v.includes("\0")) out.push(nul(path));
    };
    const enm = (path: string, e: DescEnum, v: JsonValue) => {
      if (v === null) return;
      if (typeof v === "number" ? !numbersOf(e).has(v) : !e.values.some((x) => x.name === v)) {
        out.push(unknownEnum(path, e, typeof v === "string" ? JSON.stringify(clipChars(v, 60)) : String(v)));
      }
    };
    const walk = (desc: DescMessage, obj: JsonValue, prefix: string, depth: number): void => {
      if (depth > maxDepth) {
        out.push(tooDeep(prefix.slice(0, -1), maxDepth));
        return;
      }
      // Well-known types have their own JSON forms (strings, any JSON value): no field names to check.
      if (
        desc.typeName.startsWith(WKT_PREFIX) ||
        obj === null ||
        typeof obj !== "object" ||
        Array.isArray(obj)
      )
        return;
      for (const [key, value] of Object.entries(obj)) {
        if (full()) return;
        const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
        if (field === undefined) {
          out.push(unknownField(prefix + clipChars(key, 60).replaceAll("\0", "\\0"), desc));
          continue;
        }
        if (value === null) continue;
        const path = prefix + field.name;
        switch (field.fieldKind) {
          case "scalar":
            if (field.scalar === ScalarType.STRING) str(path, value);
            break;
          case "enum":
            enm(path, field.enum, value);
            break;
          case "message":
            walk(field.message, value, `${path}.`, depth + 1);
            break;
          case "list":
            if (!Array.isArray(value)) break;
            if (value.length > maxElements) {
              out.push(tooMany(path, value.length, maxElements));
              break;
            }
            value.forEach((item, i) => {
              if (field.listKind === "message") walk(field.message, item, `${path}[${i}].`, depth + 1);
              else if (field.listKind === "enum") enm(`${path}[${i}]`, field.enum, item);
              else if (field.scalar === ScalarType.STRING) str(`${path}[${i}]`, item);
            });
            break;
          case "map": {
            if (typeof value !== "object" || Array.isArray(value)) break;
            const entries = Object.entries(value);
            if (entries.length > maxElements) {
              out.push(tooMany(path, entries.length, maxElements));
              break;
            }
            for (const [k, item] of entries) {
              str(path, k);
              if (field.mapKind === "message") {
                const at = `${path}[${clipChars(k, 40).replaceAll("\0", "\\0")}]`;
                walk(field.message, item, `${at}.`, depth + 1);
              } else if (field.mapKind === "enum") enm(path, field.enum, item);
              else if (field.scalar === ScalarType.STRING) str(path, item);
            }
            break;
          }
        }
      }
    };
    walk(schema, json, "", 0);
    return out;
  }

  return { checkMessage, checkJson };
}

function unknownField(path: string, desc: DescMessage): FieldViolation {
  return {
    field: path,
    description: `unknown field "${path.slice(path.lastIndexOf(".") + 1)}" of ${desc.typeName}`,
    reason: "UNKNOWN_FIELD",
  };
}

/** The accepted names of an enum, at most MAX_ENUM_NAMES (then "and N more"). */
export function acceptedEnumNames(e: DescEnum): string {
  const names = e.values.slice(0, MAX_ENUM_NAMES).map((v) => v.name);
  const more = e.values.length - MAX_ENUM_NAMES;
  return `${names.join(", ")}${more > 0 ? ` and ${more} more` : ""}`;
}

function unknownEnum(path: string, e: DescEnum, shown: string): FieldViolation {
  return {
    field: path,
    description: `unknown value ${shown} for enum ${e.typeName}; accepted: ${acceptedEnumNames(e)}`,
    reason: "UNKNOWN_ENUM_VALUE",
  };
}

function nul(path: string): FieldViolation {
  return { field: path, description: "must not contain a NUL character (U+0000)", reason: "NUL_CHARACTER" };
}

function tooLong(path: string, length: number, max: number): FieldViolation {
  return { field: path, description: `is ${length} characters long; at most ${max}`, reason: "TOO_LONG" };
}

function tooMany(path: string, n: number, max: number): FieldViolation {
  return { field: path, description: `has ${n} elements; at most ${max}`, reason: "TOO_MANY" };
}

function tooDeep(path: string, max: number): FieldViolation {
  return { field: path, description: `nested more than ${max} messages deep`, reason: "TOO_DEEP" };
}

/** The ConnectError refusing a request with these violations (bounded). */
export function requestRefused(violations: readonly FieldViolation[]): ConnectError {
  return new InvalidArgumentError(violations).toConnectError();
}

const JSON_PARSE = { ignoreUnknownFields: false } as const;

/**
 * Decode a JSON request strictly (unknown fields and enum names refused), checking it with `checker`.
 * Throws INVALID_ARGUMENT with field violations when the checker explains the problem, else connect-es's
 * own INVALID_ARGUMENT for JSON that is no valid encoding of `schema`. The checker's JSON walk runs only
 * when strict decoding fails: an acceptable request is decoded once, as before.
 */
export function parseJsonRequest(checker: RequestChecker, schema: DescMessage, text: string): Message {
  let json: JsonValue;
  try {
    json = JSON.parse(text) as JsonValue;
  } catch (err) {
    throw new ConnectError(
      `cannot decode ${schema.typeName} from JSON: ${err instanceof Error ? err.message : String(err)}`,
      Code.InvalidArgument,
    );
  }
  try {
    return fromJson(schema, json, JSON_PARSE);
  } catch (err) {
    const violations = checker.checkJson(schema, json);
    if (violations.length > 0) throw requestRefused(violations);
    throw ConnectError.from(err, Code.InvalidArgument);
  }
}

/**
 * Violations explaining why a JSON request body failed to decode, or empty. For callers that only see the
 * bytes after decoding failed (the gateway's Connect router).
 */
export function explainJsonFailure(
  checker: RequestChecker,
  schema: DescMessage,
  text: string,
): FieldViolation[] {
  try {
    return checker.checkJson(schema, JSON.parse(text) as JsonValue);
  } catch {
    return [];
  }
}

/**
 * The interceptor running `checker.checkMessage` on every request message (unary and the messages of
 * streaming requests) before anything else inside it. Put it right inside the error interceptor.
 */
export function createRequestCheckInterceptor(checker: RequestChecker = createRequestChecker()): Interceptor {
  return (next) => async (req) => {
    const schema = req.method.input;
    if (!req.stream) {
      const violations = checker.checkMessage(schema, req.message as Message);
      if (violations.length > 0) throw requestRefused(violations);
      return next(req);
    }
    const source = req.message;
    return next({
      ...req,
      message: (async function* checked() {
        for await (const m of source) {
          const violations = checker.checkMessage(schema, m as Message);
          if (violations.length > 0) throw requestRefused(violations);
          yield m;
        }
      })(),
    });
  };
}
