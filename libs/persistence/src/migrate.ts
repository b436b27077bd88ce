import type { MikroORM } from "@mikro-orm/core";

export interface MigrationProgress {
  /** Called before and after each migration (`event` is `migrating`/`migrated`/`reverting`/`reverted`). */
  onEvent?: (event: "migrating" | "migrated" | "reverting" | "reverted", name: string) => void;
}

export interface MigrationStatus {
  executed: { name: string; executedAt: Date }[];
  pending: string[];
}

function subscribe(orm: MikroORM, progress?: MigrationProgress): () => void {
  const onEvent = progress?.onEvent;
  if (!onEvent) return () => {};
  const events = ["migrating", "migrated", "reverting", "reverted"] as const;
  const listeners = events.map((e) => {
    const listener = (info: { name: string }) => onEvent(e, info.name);
    orm.migrator.on(e, listener);
    return [e, listener] as const;
  });
  return () => {
    for (const [e, l] of listeners) orm.migrator.off(e, l);
  };
}

/** Applies every pending migration (all in one transaction). Returns the names applied. */
export async function migrateUp(orm: MikroORM, progress?: MigrationProgress): Promise<string[]> {
  const off = subscribe(orm, progress);
  try {
    return (await orm.migrator.up()).map((m) => m.name);
  } finally {
    off();
  }
}

/**
 * Reverts migrations: the last one by default, or all of them with `{ all: true }` (empty schema).
 * Returns the names reverted.
 */
export async function migrateDown(
  orm: MikroORM,
  opts: { all?: boolean } = {},
  progress?: MigrationProgress,
): Promise<string[]> {
  const off = subscribe(orm, progress);
  try {
    const done = opts.all ? await orm.migrator.down({ to: 0 }) : await orm.migrator.down();
    return done.map((m) => m.name);
  } finally {
    off();
  }
}

/** Executed and pending migrations. */
export async function migrationStatus(orm: MikroORM): Promise<MigrationStatus> {
  const executed = await orm.migrator.getExecuted();
  const pending = await orm.migrator.getPending();
  return {
    executed: executed.map((r) => ({ name: r.name, executedAt: new Date(r.executed_at) })),
    pending: pending.map((m) => m.name),
  };
}
