/**
 * The descriptor walker: every RPC of every public service, and requests built for it from the generated
 * descriptors (libs/proto), for tests that must cover the whole contract rather than hand-picked cases
 * (the contract tests, and the resilience fuzzer).
 *
 * - `PUBLIC_SERVICES`, `listRpcs()`: the services the gateway serves and each of their methods.
 * - `fieldSites(schema)`: every field reachable from a request message through singular, repeated (first
 *   element) and map (key "k") message fields, with the proto path the request check names
 *   (`task.priority`, `tags[0]`, `metadata`, `steps[k].name`), the way to set it in
 *   JSON and as a message. Well-known types (google.protobuf.*) are leaves; a message type already on the
 *   path is not entered again (recursive types); depth is bounded.
 * - Request builders, each returning a `RequestCase` (the JSON form, the message form, and the proto path a
 *   refusal must name): `minimalRequest`, `withUnknownJsonField`, `withUnknownEnumValues` (one case per enum
 *   site, JSON name and number forms), `withNulStrings` (one case per string site).
 * - `encodeJson` / `encodeBinary`: the request bytes for Connect JSON and for every binary protocol.
 *
 * Everything is pure and deterministic (no randomness, no I/O): a fuzzer adds its own mutations on top.
 */
import {
  create,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  type JsonObject,
  type JsonValue,
  type Message,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import { AuditService } from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_service_pb";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";

/** Every public service (the gateway serves these; each service process serves its own). */
export const PUBLIC_SERVICES: readonly DescService[] = [
  TaskService,
  TemplateService,
  MonitoringService,
  AuditService,
];

/** One RPC: its service, method and gRPC path (`/taskmaster.task.v1.TaskService/GetTask`). */
export interface Rpc {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly path: string;
}

/** Every method of `services`, in declaration order. */
export function listRpcs(services: readonly DescService[] = PUBLIC_SERVICES): Rpc[] {
  return services.flatMap((service) =>
    service.methods.map((method) => ({ service, method, path: `/${service.typeName}/${method.name}` })),
  );
}

/** One step from a message to a field: into a singular field, the first list element, or map key "k". */
interface Step {
  readonly field: DescField;
}

/** A field reachable from a request message. */
export interface FieldSite {
  /** Proto path as the request check names it: `task.priority`, `labels[0]`, `metadata` (a map). */
  readonly path: string;
  readonly field: DescField;
  readonly steps: readonly Step[];
}

export interface WalkOptions {
  /** Message nesting entered at most (default 4). */
  readonly maxDepth?: number | undefined;
}

/** Key used for map entries on the way to a site. */
export const MAP_KEY = "k";

const WKT = "google.protobuf.";

/** Every field reachable from `schema` (see the module comment for what is entered). */
export function fieldSites(schema: DescMessage, options: WalkOptions = {}): FieldSite[] {
  const maxDepth = options.maxDepth ?? 4;
  const out: FieldSite[] = [];
  const walk = (desc: DescMessage, prefix: string, steps: Step[], seen: ReadonlySet<string>) => {
    for (const field of desc.fields) {
      const here = [...steps, { field }];
      // As the request check names them: list elements by index, map values by the map field (scalars)
      // or by key (messages, on the way to their fields).
      const path = prefix + field.name + (field.fieldKind === "list" ? "[0]" : "");
      out.push({ path, field, steps: here });
      const child =
        field.fieldKind === "message"
          ? field.message
          : field.fieldKind === "list" && field.listKind === "message"
            ? field.message
            : field.fieldKind === "map" && field.mapKind === "message"
              ? field.message
              : undefined;
      if (
        child !== undefined &&
        !child.typeName.startsWith(WKT) &&
        !seen.has(child.typeName) &&
        here.length < maxDepth
      ) {
        const into = field.fieldKind === "map" ? `${path}[${MAP_KEY}].` : `${path}.`;
        walk(child, into, here, new Set([...seen, child.typeName]));
      }
    }
  };
  walk(schema, "", [], new Set([schema.typeName]));
  return out;
}

/** The kind of value a site holds (its scalar type, enum or message), for lists and maps their element. */
export function siteKind(field: DescField): "string" | "enum" | "message" | "other" {
  if (field.enum !== undefined) return "enum";
  if (field.message !== undefined) return "message";
  return field.scalar === ScalarType.STRING ? "string" : "other";
}

/** A request built for one RPC. */
export interface RequestCase {
  /** What the case is about, for test names: `minimal`, `unknown field`, `unknown enum name task.priority`... */
  readonly label: string;
  /** The request as JSON (what a Connect JSON client sends). */
  readonly json: JsonObject;
  /** The request as a message (binary protocols), or undefined when it has no binary form (unknown JSON field). */
  readonly message: Message | undefined;
  /** Proto path the refusal must name; undefined for a valid request. */
  readonly field: string | undefined;
}

/** The empty request: valid structurally (the request check passes it; handlers may still refuse it). */
export function minimalRequest(schema: DescMessage): RequestCase {
  return { label: "minimal", json: {}, message: create(schema), field: undefined };
}

/** Name of the field no request message has. */
export const UNKNOWN_FIELD = "notAFieldOfThisMessage";

/** JSON with one key the message does not declare (no binary form: binary keeps unknown fields). */
export function withUnknownJsonField(_schema: DescMessage): RequestCase {
  return { label: "unknown field", json: { [UNKNOWN_FIELD]: 1 }, message: undefined, field: UNKNOWN_FIELD };
}

/** The number no enum of the contract declares. */
export const UNKNOWN_ENUM_NUMBER = 9999;
/** The name no enum of the contract declares. */
export const UNKNOWN_ENUM_NAME = "NOT_A_DECLARED_VALUE";

/**
 * Per enum site of the request: the JSON with an undeclared name, and the JSON and message with an
 * undeclared number (the message is what every binary protocol sends).
 */
export function withUnknownEnumValues(schema: DescMessage, options?: WalkOptions): RequestCase[] {
  return fieldSites(schema, options)
    .filter((s) => siteKind(s.field) === "enum")
    .flatMap((site) => [
      {
        label: `unknown enum name ${site.path}`,
        json: jsonWith(site, UNKNOWN_ENUM_NAME),
        message: undefined,
        field: site.path,
      },
      {
        label: `unknown enum number ${site.path}`,
        json: jsonWith(site, UNKNOWN_ENUM_NUMBER),
        message: messageWith(schema, site, UNKNOWN_ENUM_NUMBER),
        field: site.path,
      },
    ]);
}

/** Per string site of the request: a value with a NUL character, as JSON and as a message. */
export function withNulStrings(schema: DescMessage, options?: WalkOptions): RequestCase[] {
  const value = "before\u0000after";
  return fieldSites(schema, options)
    .filter((s) => siteKind(s.field) === "string")
    .map((site) => ({
      label: `NUL in ${site.path}`,
      json: jsonWith(site, value),
      message: messageWith(schema, site, value),
      field: site.path,
    }));
}

/** JSON (proto3 JSON names) with `leaf` at the site, every message on the way created. */
export function jsonWith(site: FieldSite, leaf: JsonValue): JsonObject {
  const wrap = (i: number): JsonValue => {
    const step = site.steps[i] as Step;
    const inner = i === site.steps.length - 1 ? leaf : wrap(i + 1);
    const value =
      step.field.fieldKind === "list"
        ? [inner]
        : step.field.fieldKind === "map"
          ? { [MAP_KEY]: inner }
          : inner;
    return { [step.field.jsonName]: value };
  };
  return wrap(0) as JsonObject;
}

/** A message of `schema` with `leaf` at the site (oneof members set through their case). */
export function messageWith(schema: DescMessage, site: FieldSite, leaf: unknown): Message {
  const build = (desc: DescMessage, i: number): Message => {
    const step = site.steps[i] as Step;
    const f = step.field;
    let inner: unknown;
    if (i === site.steps.length - 1) inner = leaf;
    else inner = build(f.message as DescMessage, i + 1);
    const value = f.fieldKind === "list" ? [inner] : f.fieldKind === "map" ? { [MAP_KEY]: inner } : inner;
    const msg = create(desc) as unknown as Record<string, unknown>;
    if (f.oneof !== undefined) msg[f.oneof.localName] = { case: f.localName, value };
    else msg[f.localName] = value;
    return msg as unknown as Message;
  };
  return build(schema, 0);
}

/** The request bytes for Connect JSON. */
export function encodeJson(json: JsonObject): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(json));
}

/** The request bytes for every binary protocol. */
export function encodeBinary(schema: DescMessage, message: Message): Uint8Array {
  return toBinary(schema, message);
}
