/**
 * OUTPUT_ONLY fields of the contract, enumerated from the descriptors (`google.api.field_behavior`), and which
 * of them are set in a message (walked recursively). The output contract check records what the servers set;
 * the coverage check compares that with every OUTPUT_ONLY field a service can emit.
 */
import { type DescField, type DescMessage, type DescService, getOption, hasOption } from "@bufbuild/protobuf";
import { type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import { FieldBehavior, field_behavior } from "@taskmaster/proto/gen/google/api/field_behavior_pb";

/** `package.Message.field`, e.g. `taskmaster.task.v1.Task.child_count`. */
export type FieldKey = string;

export const fieldKey = (field: DescField): FieldKey => `${field.parent.typeName}.${field.name}`;

export function isOutputOnly(field: DescField): boolean {
  return (
    hasOption(field, field_behavior) && getOption(field, field_behavior).includes(FieldBehavior.OUTPUT_ONLY)
  );
}

/** Message types reachable from the outputs of `services`' methods (through message fields), by type name. */
export function emittedMessages(services: readonly DescService[]): Map<string, DescMessage> {
  const seen = new Map<string, DescMessage>();
  const visit = (m: DescMessage) => {
    if (seen.has(m.typeName)) return;
    seen.set(m.typeName, m);
    for (const f of m.fields) {
      if (f.fieldKind === "message" || (f.fieldKind === "list" && f.listKind === "message")) visit(f.message);
      if (f.fieldKind === "map" && f.mapKind === "message") visit(f.message);
    }
  };
  for (const s of services) for (const method of s.methods) visit(method.output);
  return seen;
}

/** Every OUTPUT_ONLY field of the messages `services` can emit. */
export function outputOnlyFields(services: readonly DescService[]): Set<FieldKey> {
  const out = new Set<FieldKey>();
  for (const m of emittedMessages(services).values()) {
    for (const f of m.fields) if (isOutputOnly(f)) out.add(fieldKey(f));
  }
  return out;
}

/** Adds to `into` every OUTPUT_ONLY field set (non-default) anywhere in `message`. */
export function collectSetOutputOnly(message: ReflectMessage, into: Set<FieldKey>): void {
  for (const f of message.fields) {
    if (!message.isSet(f)) continue;
    if (isOutputOnly(f)) into.add(fieldKey(f));
    if (f.fieldKind === "message") {
      collectSetOutputOnly(message.get(f) as ReflectMessage, into);
    } else if (f.fieldKind === "list" && f.listKind === "message") {
      for (const item of message.get(f)) collectSetOutputOnly(item as ReflectMessage, into);
    } else if (f.fieldKind === "map" && f.mapKind === "message") {
      for (const [, item] of message.get(f)) collectSetOutputOnly(item as ReflectMessage, into);
    }
  }
}

export { reflect };
