/**
 * The seed's discrete database variables as an alternative to `DATABASE_URL`: `DB_HOST`, `DB_PORT` (5432),
 * `DB_NAME` (taskmaster), `DB_USER` (postgres), `DB_PASSWORD` (none). `DATABASE_URL` wins when both are given;
 * `DB_SSL_MODE` applies either way (it is read on its own, see config.ts).
 */
export type Env = Readonly<Record<string, string | undefined>>;

/** The URL the discrete variables describe, or undefined when `DB_HOST` is not set. */
export function databaseUrlFromParts(env: Env): string | undefined {
  const host = env.DB_HOST?.trim();
  if (!host) return undefined;
  const url = new URL("postgres://localhost");
  url.hostname = host;
  url.port = env.DB_PORT?.trim() || "5432";
  url.pathname = `/${encodeURIComponent(env.DB_NAME?.trim() || "taskmaster")}`;
  url.username = encodeURIComponent(env.DB_USER?.trim() || "postgres");
  if (env.DB_PASSWORD) url.password = encodeURIComponent(env.DB_PASSWORD);
  return url.toString();
}

/** `env` with `DATABASE_URL` filled in from the discrete variables when it is not set itself. */
export function withDatabaseUrl<E extends Env>(env: E): E {
  if (env.DATABASE_URL?.trim()) return env;
  const url = databaseUrlFromParts(env);
  return url === undefined ? env : { ...env, DATABASE_URL: url };
}
