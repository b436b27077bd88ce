/**
 * Short enum names: the seed's `'feature'`, `'high'`, `'in_progress'` for `TASK_TYPE_FEATURE`,
 * `TASK_PRIORITY_HIGH`, `TASK_STATUS_IN_PROGRESS`. Resolved from the enum descriptor, so every value the
 * contract defines is accepted (short or full name, any case, or the number) and nothing else is.
 */
import type { DescEnum } from "@bufbuild/protobuf";

/** The lower-case short names of a protobuf-es enum object (`typeof TaskType`), without `unspecified`. */
export type ShortName<E> = Exclude<Lowercase<Extract<keyof E, string>>, "unspecified">;

/** An enum value given as number, short name (`'high'`) or full name (`'TASK_PRIORITY_HIGH'`). */
export type EnumInput<E> = E[keyof E] | ShortName<E> | Uppercase<ShortName<E>> | (string & {});

/** Resolves `value` against `schema`; throws a TypeError listing the accepted names when it is unknown. */
export function enumValue<T extends number>(schema: DescEnum, value: T | string | undefined): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "number") return value;
  const upper = value
    .trim()
    .toUpperCase()
    .replace(/[\s-]+/g, "_");
  const prefix = schema.sharedPrefix?.toUpperCase() ?? "";
  const found =
    schema.values.find((v) => v.name === upper) ?? schema.values.find((v) => v.name === `${prefix}${upper}`);
  if (found === undefined || found.number === 0) {
    const accepted = schema.values
      .filter((v) => v.number !== 0)
      .map((v) => v.localName.toLowerCase())
      .join(", ");
    throw new TypeError(`unknown ${schema.name} "${value}" (accepted: ${accepted})`);
  }
  return found.number as T;
}

/** The short, lower-case name of an enum value (`TaskStatus.IN_PROGRESS` -> `in_progress`). */
export function enumName(schema: DescEnum, value: number): string {
  return schema.value[value]?.localName.toLowerCase() ?? String(value);
}
