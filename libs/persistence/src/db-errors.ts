/**
 * Database error classification that works for both paths to PostgreSQL: MikroORM's converted exceptions
 * (entity flushes) and raw `pg` errors (`em.getConnection().execute`, which MikroORM does not convert).
 */
import { UniqueConstraintViolationException } from "@mikro-orm/core";

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** A unique or exclusion constraint refused the write (SQLSTATE 23505). */
export function isUniqueViolation(err: unknown): boolean {
  return err instanceof UniqueConstraintViolationException || sqlState(err) === "23505";
}
