/**
 * The gateway's configuration from the environment (one ConfigError line naming every bad variable):
 * upstream addresses, authentication (Cloudflare Access and/or bearer issuers, or `GATEWAY_AUTH=none` for
 * development only: refused in the production and staging profiles), role map, identity signing key, trusted
 * proxies, CORS, and abuse limits with per-profile defaults.
 */
import { readFileSync } from "node:fs";
import {
  type CommonConfig,
  ConfigError,
  type ConfigIssue,
  type Env,
  loadConfig,
  type Profile,
  resolveProfile,
} from "@taskmaster/config/config";
import { boolVar, intVar, numberVar, portVar } from "@taskmaster/config/env-vars";
import { z } from "zod";
import type { AuthnConfig, JwtIssuerConfig } from "./authn.js";
import { type RoleMap, roleMapSchema } from "./authz.js";
import type { EdgeLimits } from "./edge.js";

const address = z.string().regex(/^[^:\s]+:\d{1,5}$/, "must be host:port");
const list = z.string().transform((v) =>
  v
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== ""),
);
const httpsUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

/** Abuse-limit defaults per profile (all overridable). */
export const LIMIT_DEFAULTS: Readonly<
  Record<Profile, EdgeLimits & { maxConnections: number; requestTimeoutMs: number; headersTimeoutMs: number }>
> = {
  development: {
    perIdentity: { ratePerSecond: 1_000, burst: 2_000 },
    perIp: { ratePerSecond: 2_000, burst: 4_000 },
    maxInFlight: 2_000,
    maxInFlightPerConnection: 100,
    maxConnections: 10_000,
    requestTimeoutMs: 120_000,
    headersTimeoutMs: 20_000,
  },
  test: {
    perIdentity: { ratePerSecond: 1_000, burst: 2_000 },
    perIp: { ratePerSecond: 2_000, burst: 4_000 },
    maxInFlight: 2_000,
    maxInFlightPerConnection: 100,
    maxConnections: 10_000,
    requestTimeoutMs: 60_000,
    headersTimeoutMs: 10_000,
  },
  staging: {
    perIdentity: { ratePerSecond: 50, burst: 100 },
    perIp: { ratePerSecond: 100, burst: 200 },
    maxInFlight: 1_000,
    maxInFlightPerConnection: 100,
    maxConnections: 5_000,
    requestTimeoutMs: 60_000,
    headersTimeoutMs: 10_000,
  },
  production: {
    perIdentity: { ratePerSecond: 20, burst: 60 },
    perIp: { ratePerSecond: 50, burst: 100 },
    maxInFlight: 1_000,
    maxInFlightPerConnection: 100,
    maxConnections: 5_000,
    requestTimeoutMs: 60_000,
    headersTimeoutMs: 10_000,
  },
};

function schema(profile: Profile) {
  const d = LIMIT_DEFAULTS[profile];
  return z.object({
    GATEWAY_PORT: portVar().default(8080),
    GATEWAY_READ_MAX_BYTES: intVar(1_024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
    TASK_SERVICE_ADDRESS: address.default("127.0.0.1:50051"),
    TEMPLATE_SERVICE_ADDRESS: address.default("127.0.0.1:50052"),
    MONITORING_SERVICE_ADDRESS: address.default("127.0.0.1:50053"),
    /** `jwt` (Access and/or bearer) or `none` (development only). */
    GATEWAY_AUTH: z.enum(["jwt", "none"], { error: "must be jwt or none" }).default("jwt"),
    /** `https://<team>.cloudflareaccess.com` (the `iss` of Access JWTs). */
    CF_ACCESS_TEAM_DOMAIN: httpsUrl.optional(),
    /** The Access application's AUD tag(s), comma-separated. */
    CF_ACCESS_AUD: list.optional(),
    /** Default `<team domain>/cdn-cgi/access/certs`; tests point it at a local JWKS server. */
    CF_ACCESS_CERTS_URL: httpsUrl.optional(),
    GATEWAY_BEARER_ISSUER: z.string().min(1).optional(),
    GATEWAY_BEARER_JWKS_URL: httpsUrl.optional(),
    GATEWAY_BEARER_AUDIENCE: list.optional(),
    GATEWAY_CLOCK_SKEW_S: intVar(0, 300).default(30),
    GATEWAY_JWKS_COOLDOWN_MS: intVar(0, 3_600_000).default(30_000),
    /** Role map as JSON (see authz.ts `roleMapSchema`), or a path in GATEWAY_ROLE_MAP_FILE. */
    GATEWAY_ROLE_MAP: z.string().optional(),
    GATEWAY_ROLE_MAP_FILE: z.string().optional(),
    /** Ed25519 PKCS#8 PEM file signing `x-taskmaster-identity`. Required with GATEWAY_AUTH=jwt outside development/test. */
    GATEWAY_IDENTITY_KEY_FILE: z.string().optional(),
    GATEWAY_TRUSTED_PROXIES: list.default(["127.0.0.1/32", "::1/128"]),
    GATEWAY_CORS_ORIGINS: list.default([]),
    GATEWAY_RATE_PER_IDENTITY: numberVar(0.01, 1e6).default(d.perIdentity.ratePerSecond),
    GATEWAY_BURST_PER_IDENTITY: intVar(1, 1e7).default(d.perIdentity.burst),
    GATEWAY_RATE_PER_IP: numberVar(0.01, 1e6).default(d.perIp.ratePerSecond),
    GATEWAY_BURST_PER_IP: intVar(1, 1e7).default(d.perIp.burst),
    GATEWAY_MAX_IN_FLIGHT: intVar(1, 1e6).default(d.maxInFlight),
    GATEWAY_MAX_IN_FLIGHT_PER_CONNECTION: intVar(1, 1e5).default(d.maxInFlightPerConnection),
    GATEWAY_MAX_CONNECTIONS: intVar(1, 1e6).default(d.maxConnections),
    GATEWAY_REQUEST_TIMEOUT_MS: intVar(100, 3_600_000).default(d.requestTimeoutMs),
    GATEWAY_HEADERS_TIMEOUT_MS: intVar(100, 600_000).default(d.headersTimeoutMs),
    /** HTTPS on the gateway's own listener (both or neither). */
    GATEWAY_TLS_CERT_FILE: z.string().min(1).optional(),
    GATEWAY_TLS_KEY_FILE: z.string().min(1).optional(),
    /** TLS to the services: CA that signed their certificates; plus a client cert/key for mTLS. */
    GATEWAY_UPSTREAM_TLS_CA_FILE: z.string().min(1).optional(),
    GATEWAY_UPSTREAM_TLS_CERT_FILE: z.string().min(1).optional(),
    GATEWAY_UPSTREAM_TLS_KEY_FILE: z.string().min(1).optional(),
    /** Name checked against the services' certificates instead of the host in *_SERVICE_ADDRESS. */
    GATEWAY_UPSTREAM_TLS_SERVER_NAME: z.string().min(1).optional(),
    /** Unary calls by the fast path (fast-path.ts); `false`: every call through the Connect router. */
    GATEWAY_UNARY_FAST_PATH: boolVar().optional(),
  });
}

export interface GatewayConfig {
  readonly common: CommonConfig;
  readonly port: number;
  readonly readMaxBytes: number;
  readonly addresses: { readonly task: string; readonly template: string; readonly monitoring: string };
  readonly authn: AuthnConfig;
  readonly roleMap: RoleMap;
  readonly identityKeyPem: string | undefined;
  readonly trustedProxies: readonly string[];
  readonly corsOrigins: readonly string[];
  readonly limits: EdgeLimits;
  readonly http: { maxConnections: number; requestTimeoutMs: number; headersTimeoutMs: number };
  /** HTTPS for the gateway's listener (PEM contents), when GATEWAY_TLS_CERT_FILE/KEY_FILE are set. */
  readonly tls: { readonly cert: string; readonly key: string } | undefined;
  /** Serve unary calls by the fast path (default true). */
  readonly unaryFastPath: boolean;
  /** TLS (mTLS with cert + key) to the services, when GATEWAY_UPSTREAM_TLS_CA_FILE is set. */
  readonly upstreamTls:
    | {
        readonly ca: string;
        readonly cert?: string | undefined;
        readonly key?: string | undefined;
        readonly serverName?: string | undefined;
      }
    | undefined;
}

export function loadGatewayConfig(
  env: Env,
  readFile: (path: string) => string = (p) => readFileSync(p, "utf8"),
): GatewayConfig {
  const config = loadConfig(schema(resolveProfile(env)), env, { service: "gateway" });
  const s = config.service;
  const issues: ConfigIssue[] = [];
  const strict = config.profile === "production" || config.profile === "staging";

  if (s.GATEWAY_AUTH === "none" && strict) {
    issues.push({
      variable: "GATEWAY_AUTH",
      message: `must not be none in the ${config.profile} profile (authentication cannot be disabled there)`,
    });
  }
  let access: JwtIssuerConfig | undefined;
  let bearer: JwtIssuerConfig | undefined;
  if (s.GATEWAY_AUTH === "jwt") {
    if (s.CF_ACCESS_TEAM_DOMAIN !== undefined) {
      if (s.CF_ACCESS_AUD === undefined || s.CF_ACCESS_AUD.length === 0) {
        issues.push({ variable: "CF_ACCESS_AUD", message: "is required with CF_ACCESS_TEAM_DOMAIN" });
      }
      const team = s.CF_ACCESS_TEAM_DOMAIN.replace(/\/+$/, "");
      access = {
        issuer: team,
        jwksUrl: s.CF_ACCESS_CERTS_URL ?? `${team}/cdn-cgi/access/certs`,
        audience: s.CF_ACCESS_AUD ?? [],
      };
    }
    if (s.GATEWAY_BEARER_ISSUER !== undefined || s.GATEWAY_BEARER_JWKS_URL !== undefined) {
      if (s.GATEWAY_BEARER_ISSUER === undefined || s.GATEWAY_BEARER_JWKS_URL === undefined) {
        issues.push({
          variable: "GATEWAY_BEARER_ISSUER/GATEWAY_BEARER_JWKS_URL",
          message: "must be set together",
        });
      } else if (s.GATEWAY_BEARER_AUDIENCE === undefined || s.GATEWAY_BEARER_AUDIENCE.length === 0) {
        issues.push({
          variable: "GATEWAY_BEARER_AUDIENCE",
          message: "is required with GATEWAY_BEARER_ISSUER",
        });
      } else {
        bearer = {
          issuer: s.GATEWAY_BEARER_ISSUER,
          jwksUrl: s.GATEWAY_BEARER_JWKS_URL,
          audience: s.GATEWAY_BEARER_AUDIENCE,
        };
      }
    }
    if (access === undefined && bearer === undefined && issues.length === 0) {
      issues.push({
        variable: "GATEWAY_AUTH",
        message:
          "is jwt but no issuer is configured (set CF_ACCESS_TEAM_DOMAIN + CF_ACCESS_AUD and/or GATEWAY_BEARER_*, or GATEWAY_AUTH=none in development)",
      });
    }
    if (strict && s.GATEWAY_IDENTITY_KEY_FILE === undefined) {
      issues.push({
        variable: "GATEWAY_IDENTITY_KEY_FILE",
        message: `is required in the ${config.profile} profile`,
      });
    }
  }

  let roleMap: RoleMap = roleMapSchema.parse({});
  const rawMap =
    s.GATEWAY_ROLE_MAP ??
    (s.GATEWAY_ROLE_MAP_FILE === undefined ? undefined : tryRead(s.GATEWAY_ROLE_MAP_FILE));
  if (rawMap instanceof Error) {
    issues.push({ variable: "GATEWAY_ROLE_MAP_FILE", message: `cannot be read (${rawMap.message})` });
  } else if (rawMap !== undefined) {
    try {
      const parsed = roleMapSchema.safeParse(JSON.parse(rawMap));
      if (parsed.success) roleMap = parsed.data;
      else {
        issues.push({
          variable: s.GATEWAY_ROLE_MAP !== undefined ? "GATEWAY_ROLE_MAP" : "GATEWAY_ROLE_MAP_FILE",
          message: `is not a valid role map: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join(", ")}`,
        });
      }
    } catch {
      issues.push({ variable: "GATEWAY_ROLE_MAP", message: "is not valid JSON" });
    }
  }
  let identityKeyPem: string | undefined;
  if (s.GATEWAY_IDENTITY_KEY_FILE !== undefined) {
    const pem = tryRead(s.GATEWAY_IDENTITY_KEY_FILE);
    if (pem instanceof Error) {
      issues.push({ variable: "GATEWAY_IDENTITY_KEY_FILE", message: `cannot be read (${pem.message})` });
    } else identityKeyPem = pem;
  }
  const readPem = (variable: string, path: string | undefined): string | undefined => {
    if (path === undefined) return undefined;
    const pem = tryRead(path);
    if (pem instanceof Error) {
      issues.push({ variable, message: `cannot be read (${pem.message})` });
      return undefined;
    }
    return pem;
  };
  if ((s.GATEWAY_TLS_CERT_FILE === undefined) !== (s.GATEWAY_TLS_KEY_FILE === undefined)) {
    issues.push({ variable: "GATEWAY_TLS_CERT_FILE/GATEWAY_TLS_KEY_FILE", message: "must be set together" });
  }
  if ((s.GATEWAY_UPSTREAM_TLS_CERT_FILE === undefined) !== (s.GATEWAY_UPSTREAM_TLS_KEY_FILE === undefined)) {
    issues.push({
      variable: "GATEWAY_UPSTREAM_TLS_CERT_FILE/GATEWAY_UPSTREAM_TLS_KEY_FILE",
      message: "must be set together",
    });
  }
  if (
    s.GATEWAY_UPSTREAM_TLS_CA_FILE === undefined &&
    (s.GATEWAY_UPSTREAM_TLS_CERT_FILE !== undefined || s.GATEWAY_UPSTREAM_TLS_SERVER_NAME !== undefined)
  ) {
    issues.push({
      variable: "GATEWAY_UPSTREAM_TLS_CA_FILE",
      message: "is required with GATEWAY_UPSTREAM_TLS_CERT_FILE or GATEWAY_UPSTREAM_TLS_SERVER_NAME",
    });
  }
  const tlsCert = readPem("GATEWAY_TLS_CERT_FILE", s.GATEWAY_TLS_CERT_FILE);
  const tlsKey = readPem("GATEWAY_TLS_KEY_FILE", s.GATEWAY_TLS_KEY_FILE);
  const upstreamCa = readPem("GATEWAY_UPSTREAM_TLS_CA_FILE", s.GATEWAY_UPSTREAM_TLS_CA_FILE);
  const upstreamCert = readPem("GATEWAY_UPSTREAM_TLS_CERT_FILE", s.GATEWAY_UPSTREAM_TLS_CERT_FILE);
  const upstreamKey = readPem("GATEWAY_UPSTREAM_TLS_KEY_FILE", s.GATEWAY_UPSTREAM_TLS_KEY_FILE);
  if (issues.length > 0) throw new ConfigError(issues);

  function tryRead(path: string): string | Error {
    try {
      return readFile(path);
    } catch (err) {
      return new Error((err as NodeJS.ErrnoException).code ?? "unreadable");
    }
  }

  return {
    common: config,
    port: s.GATEWAY_PORT,
    readMaxBytes: s.GATEWAY_READ_MAX_BYTES,
    addresses: {
      task: s.TASK_SERVICE_ADDRESS,
      template: s.TEMPLATE_SERVICE_ADDRESS,
      monitoring: s.MONITORING_SERVICE_ADDRESS,
    },
    authn:
      s.GATEWAY_AUTH === "none"
        ? { mode: "none" }
        : {
            mode: "jwt",
            access,
            bearer,
            clockToleranceSeconds: s.GATEWAY_CLOCK_SKEW_S,
            jwksCooldownMs: s.GATEWAY_JWKS_COOLDOWN_MS,
          },
    roleMap,
    identityKeyPem,
    trustedProxies: s.GATEWAY_TRUSTED_PROXIES,
    corsOrigins: s.GATEWAY_CORS_ORIGINS,
    limits: {
      perIdentity: { ratePerSecond: s.GATEWAY_RATE_PER_IDENTITY, burst: s.GATEWAY_BURST_PER_IDENTITY },
      perIp: { ratePerSecond: s.GATEWAY_RATE_PER_IP, burst: s.GATEWAY_BURST_PER_IP },
      maxInFlight: s.GATEWAY_MAX_IN_FLIGHT,
      maxInFlightPerConnection: s.GATEWAY_MAX_IN_FLIGHT_PER_CONNECTION,
    },
    http: {
      maxConnections: s.GATEWAY_MAX_CONNECTIONS,
      requestTimeoutMs: s.GATEWAY_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: s.GATEWAY_HEADERS_TIMEOUT_MS,
    },
    unaryFastPath: s.GATEWAY_UNARY_FAST_PATH ?? true,
    tls: tlsCert !== undefined && tlsKey !== undefined ? { cert: tlsCert, key: tlsKey } : undefined,
    upstreamTls:
      upstreamCa === undefined
        ? undefined
        : {
            ca: upstreamCa,
            cert: upstreamCert,
            key: upstreamKey,
            serverName: s.GATEWAY_UPSTREAM_TLS_SERVER_NAME,
          },
  };
}
