import { z } from "zod";
import { withDatabaseUrl } from "./database-url.js";
import { enumVar, intVar, numberVar, portVar, postgresUrlVar } from "./env-vars.js";
import { maskSecrets, maskUrl } from "./mask.js";
import { type MaskingOptions, maskingOptionsFromEnv, splitMaskPatterns } from "./masking.js";

/** Deployment profiles. Chosen by `TASKMASTER_PROFILE`, else `NODE_ENV`, else `development`. */
export const PROFILES = ["development", "test", "staging", "production"] as const;
export type Profile = (typeof PROFILES)[number];

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DB_SSL_MODES = ["disable", "require", "verify-full"] as const;
export type DbSslMode = (typeof DB_SSL_MODES)[number];

/** Environment as read by `loadConfig` (`process.env` shaped). */
export type Env = Readonly<Record<string, string | undefined>>;

/** One problem with one (or more) environment variables. */
export interface ConfigIssue {
  /** Environment variable name(s), e.g. `DATABASE_URL`. */
  readonly variable: string;
  /** Why it is wrong, e.g. `must be between 1 and 65535 (got "70000")`. */
  readonly message: string;
}

/**
 * Configuration is invalid. `message` is ONE line naming every bad variable and why,
 * suitable for printing as-is by an entry point (no stack trace needed).
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(`invalid configuration: ${issues.map((i) => `${i.variable} ${i.message}`).join("; ")}`);
    this.issues = issues;
  }
}

/**
 * One line for an error at startup: the ConfigError message as-is, otherwise the first line of the
 * error message (never a stack trace). Use in `main.ts` catch blocks.
 */
export function formatConfigError(err: unknown): string {
  if (err instanceof ConfigError) return err.message;
  if (err instanceof Error) {
    const first = (err.message.split("\n")[0] ?? "").trim();
    const code = (err as { code?: unknown }).code;
    const prefix = typeof code === "string" && !first.includes(code) ? `${code}: ` : "";
    return `${prefix}${first || err.name}`;
  }
  return String(err).split("\n")[0] ?? "";
}

/** Connection pool settings (upstream operational values as defaults). */
export interface PoolConfig {
  readonly min: number;
  readonly max: number;
  readonly idleTimeoutMs: number;
  readonly acquireTimeoutMs: number;
}

/** Connect retry policy: `attempts` tries, delay `initialDelayMs * factor^n`, capped at `maxDelayMs`. */
export interface RetryConfig {
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly factor: number;
  readonly maxDelayMs: number;
}

export interface DatabaseConfig {
  /** `postgres://` URL; undefined in development/test when not set (the launcher may start embedded PG). */
  readonly url: string | undefined;
  /**
   * `MIGRATION_DATABASE_URL`, else `DATABASE_URL`: the schema owner's connection, used only by migrations,
   * seed and the launcher. Services connect with `url` as a member of `taskmaster_app` (README "Database roles").
   */
  readonly migrationUrl: string | undefined;
  readonly ssl: { readonly mode: DbSslMode; readonly caPath: string | undefined };
  readonly pool: PoolConfig;
  /** `DB_QUERY_TIMEOUT_MS`: PostgreSQL `statement_timeout`, a start-up option of every connection (0 = none). */
  readonly queryTimeoutMs: number;
  /**
   * `DB_IDLE_IN_TRANSACTION_MS`: PostgreSQL `idle_in_transaction_session_timeout`, a start-up option of every
   * connection (0 = none): a transaction left open by a stuck caller ends and frees its locks.
   */
  readonly idleInTransactionTimeoutMs: number;
  /** Retry of connecting and of whole transactions that failed with serialization/deadlock/connection errors. */
  readonly retry: RetryConfig;
}

export interface ServerConfig {
  /** Service name (logs, health); from the `service` option of `loadConfig`. */
  readonly name: string;
  /** `GRPC_HOST`, default `0.0.0.0` (`127.0.0.1` in development/test). */
  readonly host: string;
  /** `GRPC_PORT`, default from the `defaultGrpcPort` option. 0 = any free port. */
  readonly grpcPort: number;
  /** `HEALTH_PORT` for HTTP `/health` (8080). */
  readonly healthPort: number;
  /** `METRICS_PORT` for `/metrics` (8081). */
  readonly metricsPort: number;
}

export interface GrpcLimitsConfig {
  /** `GRPC_MAX_RECEIVE_BYTES` (default 4 MiB). */
  readonly maxReceiveMessageBytes: number;
  /** `GRPC_MAX_SEND_BYTES` (default 4 MiB). */
  readonly maxSendMessageBytes: number;
  /** `GRPC_DEFAULT_DEADLINE_MS`: used for outgoing calls when the caller set none (30 s). */
  readonly defaultDeadlineMs: number;
  /** `GRPC_MAX_DEADLINE_MS`: incoming/outgoing deadlines are capped at this (5 min). */
  readonly maxDeadlineMs: number;
  /** `GRPC_KEEPALIVE_TIME_MS` (2 h grpc default; we use 60 s). */
  readonly keepaliveTimeMs: number;
  /** `GRPC_KEEPALIVE_TIMEOUT_MS` (20 s). */
  readonly keepaliveTimeoutMs: number;
}

/** Settings every Taskmaster process shares. */
export interface CommonConfig {
  readonly profile: Profile;
  readonly server: ServerConfig;
  readonly log: { readonly level: LogLevel };
  readonly database: DatabaseConfig;
  /** `SHUTDOWN_GRACE_MS`: bound on draining in-flight RPCs at shutdown. */
  readonly shutdown: { readonly graceMs: number };
  readonly grpc: GrpcLimitsConfig;
  /** `TASKMASTER_MASK_KEYS` / `TASKMASTER_MASK_PATTERNS`: added to the masking policy (`createMaskingPolicy`). */
  readonly masking: MaskingOptions;
}

export interface LoadConfigOptions {
  /** Service name, e.g. "task-service". Default "taskmaster". */
  readonly service?: string;
  /** Default for `GRPC_PORT`. Default 50051. */
  readonly defaultGrpcPort?: number;
}

/** Profile defaults: upstream pools (direct min 2 / max 10, idle 10 s, acquire 30 s; dev 1-5; test 1-3; staging max 15). */
export interface ProfileDefaults {
  readonly pool: PoolConfig;
  /** Default of `DB_IDLE_IN_TRANSACTION_MS`. */
  readonly idleInTransactionTimeoutMs: number;
  readonly logLevel: LogLevel;
  readonly host: string;
  readonly databaseUrlRequired: boolean;
  readonly sslMode: DbSslMode;
  readonly shutdownGraceMs: number;
}

const basePool = { idleTimeoutMs: 10_000, acquireTimeoutMs: 30_000 } as const;

export const PROFILE_DEFAULTS: Readonly<Record<Profile, ProfileDefaults>> = {
  development: {
    pool: { min: 1, max: 5, ...basePool },
    idleInTransactionTimeoutMs: 60_000,
    logLevel: "debug",
    host: "127.0.0.1",
    databaseUrlRequired: false,
    sslMode: "disable",
    shutdownGraceMs: 5_000,
  },
  test: {
    pool: { min: 1, max: 3, ...basePool },
    idleInTransactionTimeoutMs: 60_000,
    logLevel: "warn",
    host: "127.0.0.1",
    databaseUrlRequired: false,
    sslMode: "disable",
    shutdownGraceMs: 2_000,
  },
  staging: {
    pool: { min: 2, max: 15, ...basePool },
    idleInTransactionTimeoutMs: 30_000,
    logLevel: "info",
    host: "0.0.0.0",
    databaseUrlRequired: true,
    sslMode: "require",
    shutdownGraceMs: 20_000,
  },
  production: {
    pool: { min: 2, max: 10, ...basePool },
    idleInTransactionTimeoutMs: 30_000,
    logLevel: "info",
    host: "0.0.0.0",
    databaseUrlRequired: true,
    sslMode: "require",
    shutdownGraceMs: 20_000,
  },
};

/** Upstream: query timeout 60 s; retry 3 attempts, 1 s initial, factor 2, max 30 s. */
export const DATABASE_DEFAULTS = {
  queryTimeoutMs: 60_000,
  retry: { attempts: 3, initialDelayMs: 1_000, factor: 2, maxDelayMs: 30_000 },
} as const;

export const GRPC_DEFAULTS = {
  maxReceiveMessageBytes: 4 * 1024 * 1024,
  maxSendMessageBytes: 4 * 1024 * 1024,
  defaultDeadlineMs: 30_000,
  maxDeadlineMs: 300_000,
  keepaliveTimeMs: 60_000,
  keepaliveTimeoutMs: 20_000,
} as const;

/** The zod schema of the common environment variables for one profile (defaults applied). */
export function commonEnvSchema(profile: Profile, options: LoadConfigOptions = {}) {
  const d = PROFILE_DEFAULTS[profile];
  const db = DATABASE_DEFAULTS;
  const g = GRPC_DEFAULTS;
  const url = postgresUrlVar();
  return z.object({
    DATABASE_URL: d.databaseUrlRequired
      ? z.string({ error: `is required in the ${profile} profile` }).pipe(url)
      : url.optional(),
    MIGRATION_DATABASE_URL: url.optional(),
    DB_SSL_MODE: enumVar(DB_SSL_MODES).default(d.sslMode),
    DB_SSL_CA: z.string().optional(),
    DB_POOL_MIN: intVar(0, 1_000).default(d.pool.min),
    DB_POOL_MAX: intVar(1, 1_000).default(d.pool.max),
    DB_POOL_IDLE_MS: intVar(0, 3_600_000).default(d.pool.idleTimeoutMs),
    DB_POOL_ACQUIRE_MS: intVar(1, 600_000).default(d.pool.acquireTimeoutMs),
    DB_QUERY_TIMEOUT_MS: intVar(0, 3_600_000).default(db.queryTimeoutMs),
    DB_IDLE_IN_TRANSACTION_MS: intVar(0, 3_600_000).default(d.idleInTransactionTimeoutMs),
    DB_RETRY_ATTEMPTS: intVar(1, 100).default(db.retry.attempts),
    DB_RETRY_INITIAL_MS: intVar(0, 600_000).default(db.retry.initialDelayMs),
    DB_RETRY_FACTOR: numberVar(1, 10).default(db.retry.factor),
    DB_RETRY_MAX_MS: intVar(0, 3_600_000).default(db.retry.maxDelayMs),
    GRPC_HOST: z.string().trim().min(1).default(d.host),
    GRPC_PORT: portVar().default(options.defaultGrpcPort ?? 50051),
    HEALTH_PORT: portVar().default(8080),
    METRICS_PORT: portVar().default(8081),
    LOG_LEVEL: enumVar(LOG_LEVELS).default(d.logLevel),
    SHUTDOWN_GRACE_MS: intVar(0, 600_000).default(d.shutdownGraceMs),
    GRPC_MAX_RECEIVE_BYTES: intVar(1_024, 1_073_741_824).default(g.maxReceiveMessageBytes),
    GRPC_MAX_SEND_BYTES: intVar(1_024, 1_073_741_824).default(g.maxSendMessageBytes),
    GRPC_DEFAULT_DEADLINE_MS: intVar(1, 86_400_000).default(g.defaultDeadlineMs),
    GRPC_MAX_DEADLINE_MS: intVar(1, 86_400_000).default(g.maxDeadlineMs),
    GRPC_KEEPALIVE_TIME_MS: intVar(1_000, 86_400_000).default(g.keepaliveTimeMs),
    GRPC_KEEPALIVE_TIMEOUT_MS: intVar(100, 600_000).default(g.keepaliveTimeoutMs),
    TASKMASTER_MASK_KEYS: z.string().optional(),
    TASKMASTER_MASK_PATTERNS: z
      .string()
      .optional()
      .superRefine((value, ctx) => {
        for (const source of splitMaskPatterns(value)) {
          try {
            new RegExp(source, "gi");
          } catch (err) {
            ctx.addIssue({
              code: "custom",
              message: `has an invalid regular expression ${JSON.stringify(source)} (${err instanceof Error ? err.message : String(err)})`,
            });
          }
        }
      }),
  });
}

/** Resolve the profile from `TASKMASTER_PROFILE`, else `NODE_ENV`, else development. Throws ConfigError. */
export function resolveProfile(env: Env = process.env): Profile {
  for (const variable of ["TASKMASTER_PROFILE", "NODE_ENV"] as const) {
    const raw = env[variable]?.trim();
    if (raw === undefined || raw === "") continue;
    if ((PROFILES as readonly string[]).includes(raw)) return raw as Profile;
    throw new ConfigError([
      { variable, message: `"${raw}" is not a known profile (expected one of ${PROFILES.join(", ")})` },
    ]);
  }
  return "development";
}

const SECRET_VAR = /(PASSWORD|SECRET|TOKEN|KEY|CREDENTIAL)/i;

function displayValue(variable: string, raw: string | undefined): string {
  if (raw === undefined) return "";
  if (SECRET_VAR.test(variable)) return ' (got "***")';
  const shown = raw.includes("://") ? maskUrl(raw) : raw;
  return ` (got "${shown.length > 80 ? `${shown.slice(0, 77)}...` : shown}")`;
}

function issuesFromZod(error: z.ZodError, env: Env): ConfigIssue[] {
  return error.issues.map((issue) => {
    const variable = issue.path.map(String).join(".") || "environment";
    const raw = typeof issue.path[0] === "string" ? env[issue.path[0]] : undefined;
    return { variable, message: `${issue.message}${displayValue(variable, raw)}` };
  });
}

function withoutEmpty(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== "") out[k] = v;
  return out;
}

/**
 * Validate the environment once at start. Returns the common settings plus, under `service`, the output
 * of the caller's own zod `schema` (pass `z.object({})` when there is none). All problems from both the
 * common and the service schema are reported together in ONE ConfigError.
 *
 * @example
 *   const config = loadConfig(z.object({ TASK_PAGE_SIZE_MAX: intVar(1, 1000).default(100) }), process.env,
 *     { service: "task-service", defaultGrpcPort: 50051 });
 */
export function loadConfig<S extends z.ZodType = z.ZodObject<Record<string, never>>>(
  schema?: S,
  env: Env = process.env,
  options: LoadConfigOptions = {},
): CommonConfig & { readonly service: z.output<S> } {
  const profile = resolveProfile(env);
  const clean = withoutEmpty(withDatabaseUrl(env));
  const issues: ConfigIssue[] = [];

  const common = commonEnvSchema(profile, options).safeParse(clean);
  if (!common.success) issues.push(...issuesFromZod(common.error, env));
  const own = (schema ?? z.object({})).safeParse(clean);
  if (!own.success) issues.push(...issuesFromZod(own.error, env));

  if (common.success) {
    const e = common.data;
    if (e.DB_POOL_MIN > e.DB_POOL_MAX) {
      issues.push({
        variable: "DB_POOL_MIN/DB_POOL_MAX",
        message: `min (${e.DB_POOL_MIN}) must not exceed max (${e.DB_POOL_MAX})`,
      });
    }
    if (e.GRPC_DEFAULT_DEADLINE_MS > e.GRPC_MAX_DEADLINE_MS) {
      issues.push({
        variable: "GRPC_DEFAULT_DEADLINE_MS",
        message: `must not exceed GRPC_MAX_DEADLINE_MS (${e.GRPC_MAX_DEADLINE_MS})`,
      });
    }
    if (e.DB_SSL_MODE === "verify-full" && e.DB_SSL_CA === undefined) {
      issues.push({ variable: "DB_SSL_CA", message: "is required when DB_SSL_MODE is verify-full" });
    }
  }
  if (issues.length > 0 || !common.success || !own.success) throw new ConfigError(issues);

  const e = common.data;
  return {
    profile,
    server: {
      name: options.service ?? "taskmaster",
      host: e.GRPC_HOST,
      grpcPort: e.GRPC_PORT,
      healthPort: e.HEALTH_PORT,
      metricsPort: e.METRICS_PORT,
    },
    log: { level: e.LOG_LEVEL },
    masking: maskingOptionsFromEnv({
      TASKMASTER_MASK_KEYS: e.TASKMASTER_MASK_KEYS,
      TASKMASTER_MASK_PATTERNS: e.TASKMASTER_MASK_PATTERNS,
    }),
    database: {
      url: e.DATABASE_URL,
      migrationUrl: e.MIGRATION_DATABASE_URL ?? e.DATABASE_URL,
      ssl: { mode: e.DB_SSL_MODE, caPath: e.DB_SSL_CA },
      pool: {
        min: e.DB_POOL_MIN,
        max: e.DB_POOL_MAX,
        idleTimeoutMs: e.DB_POOL_IDLE_MS,
        acquireTimeoutMs: e.DB_POOL_ACQUIRE_MS,
      },
      queryTimeoutMs: e.DB_QUERY_TIMEOUT_MS,
      idleInTransactionTimeoutMs: e.DB_IDLE_IN_TRANSACTION_MS,
      retry: {
        attempts: e.DB_RETRY_ATTEMPTS,
        initialDelayMs: e.DB_RETRY_INITIAL_MS,
        factor: e.DB_RETRY_FACTOR,
        maxDelayMs: e.DB_RETRY_MAX_MS,
      },
    },
    shutdown: { graceMs: e.SHUTDOWN_GRACE_MS },
    grpc: {
      maxReceiveMessageBytes: e.GRPC_MAX_RECEIVE_BYTES,
      maxSendMessageBytes: e.GRPC_MAX_SEND_BYTES,
      defaultDeadlineMs: e.GRPC_DEFAULT_DEADLINE_MS,
      maxDeadlineMs: e.GRPC_MAX_DEADLINE_MS,
      keepaliveTimeMs: e.GRPC_KEEPALIVE_TIME_MS,
      keepaliveTimeoutMs: e.GRPC_KEEPALIVE_TIMEOUT_MS,
    },
    service: own.data as z.output<S>,
  };
}

/** A copy of the config safe to log or print: passwords in URLs and secret-named keys masked. */
export function describeConfig(config: unknown): unknown {
  return maskSecrets(config);
}
