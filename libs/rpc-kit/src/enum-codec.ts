import type { DescEnum } from "@bufbuild/protobuf";

/**
 * Maps a protobuf enum to the lower-case value set stored in the database and back:
 * `TASK_STATUS_IN_PROGRESS` (number) <-> `"in_progress"`. Built once per enum from its descriptor, so a value
 * added to the contract maps without code changes. `*_UNSPECIFIED` (0) has no database value.
 */
export interface EnumCodec<T extends number, S extends string> {
  /** Database value for `value`; undefined for UNSPECIFIED or an unknown number. */
  toDb(value: T): S | undefined;
  /** Enum number for a database value; UNSPECIFIED (0) for an unknown string. */
  fromDb(value: string): T;
}

export function enumCodec<T extends number, S extends string = string>(desc: DescEnum): EnumCodec<T, S> {
  const toDb = new Map<number, S>();
  const fromDb = new Map<string, T>();
  for (const value of desc.values) {
    if (value.number === 0) continue;
    // localName is the value name without the enum's shared prefix: TASK_STATUS_IN_PROGRESS -> IN_PROGRESS.
    const name = value.localName;
    toDb.set(value.number, name.toLowerCase() as S);
    fromDb.set(name.toLowerCase(), value.number as T);
  }
  return {
    toDb: (value) => toDb.get(value),
    fromDb: (value) => fromDb.get(value) ?? (0 as T),
  };
}
