import { p } from "@mikro-orm/core";
import { newId } from "../ids.js";

/** UUIDv7 primary key generated in the application. */
export const idProperty = () =>
  p
    .uuid()
    .primary()
    .onCreate(() => newId());

/** `timestamptz not null default now()`, set by the application on create as well. */
export const createdAtProperty = () =>
  p
    .datetime()
    .columnType("timestamptz")
    .defaultRaw("now()")
    .onCreate(() => new Date());

/** `timestamptz not null default now()`, refreshed on every update through the unit of work. */
export const updatedAtProperty = () =>
  p
    .datetime()
    .columnType("timestamptz")
    .defaultRaw("now()")
    .onCreate(() => new Date())
    .onUpdate(() => new Date());

/** Nullable `timestamptz`. */
export const timestampProperty = () => p.datetime().columnType("timestamptz").nullable();

/** Optimistic-lock column: `version int not null default 1`, incremented on every update. */
export const versionProperty = () => p.integer().version().default(1);

/**
 * The lifecycle columns of a mutable, soft-deletable resource, in their table order: created and updated
 * times, the soft-delete time and the optimistic-lock version.
 */
export const lifecycleProperties = () => ({
  createdAt: createdAtProperty(),
  updatedAt: updatedAtProperty(),
  deletedAt: timestampProperty(),
  version: versionProperty(),
});
