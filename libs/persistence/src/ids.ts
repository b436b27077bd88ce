import { v7 } from "uuid";

/** New primary key: a UUIDv7 (time ordered, so btree inserts stay local). */
export function newId(): string {
  return v7();
}
