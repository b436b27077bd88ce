/**
 * Authentication at the edge. Who is calling, from request headers:
 *
 * - Cloudflare Access: the JWT in `Cf-Access-Jwt-Assertion` (cookie `CF_Authorization` as fallback). RS256
 *   only; keys by `kid` from the team's certs URL through jose's remote JWK set (cached; an unknown `kid`
 *   triggers a refetch at most once per cooldown, so rotated keys are picked up and garbage kids cannot
 *   hammer the certs endpoint); `iss` = team domain, `aud` contains the application AUD tag, `exp`/`nbf`
 *   with a small clock tolerance. A service-token JWT (`common_name` = the token's client id, empty `sub`)
 *   becomes a service principal.
 * - Bearer tokens (`Authorization: Bearer`) for internal callers that do not come through Cloudflare:
 *   configurable issuer, audience and JWKS URL; same checks.
 * - `mode: "none"` (development only; main.ts refuses it in production): every caller is `developer` (type anonymous; the role resolver grants it admin).
 *
 * Failures throw `AuthFailure` carrying an internal reason for the security event log; callers answer a bare
 * UNAUTHENTICATED, never the reason.
 */
import {
  createRemoteJWKSet,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from "jose";

export const ACCESS_HEADER = "cf-access-jwt-assertion";
export const ACCESS_COOKIE = "CF_Authorization";

/** An authenticated caller, before role mapping. */
export interface Principal {
  /** Email for people; service token client id (`common_name`) or bearer `sub` for services. */
  readonly subject: string;
  readonly type: "user" | "service" | "anonymous";
  readonly email?: string | undefined;
  /** Groups asserted by the identity provider (a `groups` claim when present). */
  readonly groups: readonly string[];
  readonly via: "access" | "bearer" | "none";
}

export interface JwtIssuerConfig {
  /** Expected `iss`, e.g. `https://myteam.cloudflareaccess.com`. */
  readonly issuer: string;
  /** JWKS URL, e.g. `https://myteam.cloudflareaccess.com/cdn-cgi/access/certs`. */
  readonly jwksUrl: string;
  /** Accepted audiences (`aud` must contain one): the Access application AUD tag(s). */
  readonly audience: readonly string[];
  /** Accepted algorithms. Default RS256 only. */
  readonly algorithms?: readonly string[] | undefined;
}

export interface AuthnConfig {
  readonly mode: "jwt" | "none";
  readonly access?: JwtIssuerConfig | undefined;
  readonly bearer?: JwtIssuerConfig | undefined;
  /** Allowed clock skew for exp/nbf (seconds). Default 30. */
  readonly clockToleranceSeconds?: number | undefined;
  /** Minimum time between two JWKS refetches triggered by unknown kids (ms). Default 30 s. */
  readonly jwksCooldownMs?: number | undefined;
  /** Keys are refetched after this age even without an unknown kid (ms). Default 10 min. */
  readonly jwksMaxAgeMs?: number | undefined;
  /** JWKS HTTP timeout (ms). Default 5 s. */
  readonly jwksTimeoutMs?: number | undefined;
}

/** Why authentication failed (security event detail; never sent to the caller). */
export type AuthFailureReason =
  | "missing_credentials"
  | "malformed_token"
  | "expired"
  | "not_yet_valid"
  | "bad_claims"
  | "bad_signature"
  | "unknown_key"
  | "bad_algorithm"
  | "jwks_unavailable"
  | "invalid_token";

export class AuthFailure extends Error {
  override readonly name = "AuthFailure";
  constructor(
    readonly reason: AuthFailureReason,
    readonly scheme: "access" | "bearer" | "none",
  ) {
    super(`authentication failed: ${reason}`);
  }
}

export interface Authenticator {
  authenticate(headers: Headers): Promise<Principal>;
}

const DEV_PRINCIPAL: Principal = { subject: "developer", type: "anonymous", groups: [], via: "none" };

/** `Cookie: a=b; CF_Authorization=...` -> value. */
export function cookieValue(header: string | null, name: string): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function reasonOf(err: unknown): AuthFailureReason {
  if (err instanceof joseErrors.JWTExpired) return "expired";
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    return err.claim === "nbf" ? "not_yet_valid" : "bad_claims";
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return "bad_signature";
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return "unknown_key";
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) {
    return "bad_algorithm";
  }
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid)
    return "jwks_unavailable";
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return "malformed_token";
  return "invalid_token";
}

const JWT_SHAPE = /^[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{2,65536}\.[A-Za-z0-9_-]{0,8192}$/;

interface Verifier {
  readonly scheme: "access" | "bearer";
  verify(token: string): Promise<JWTPayload & Record<string, unknown>>;
}

function verifier(scheme: "access" | "bearer", issuer: JwtIssuerConfig, config: AuthnConfig): Verifier {
  const jwks: JWTVerifyGetKey = createRemoteJWKSet(new URL(issuer.jwksUrl), {
    cooldownDuration: config.jwksCooldownMs ?? 30_000,
    cacheMaxAge: config.jwksMaxAgeMs ?? 600_000,
    timeoutDuration: config.jwksTimeoutMs ?? 5_000,
  });
  const options = {
    algorithms: [...(issuer.algorithms ?? ["RS256"])],
    issuer: issuer.issuer,
    audience: [...issuer.audience],
    clockTolerance: config.clockToleranceSeconds ?? 30,
    requiredClaims: ["exp", "iat"],
  };
  return {
    scheme,
    async verify(token) {
      if (!JWT_SHAPE.test(token)) throw new AuthFailure("malformed_token", scheme);
      try {
        const { payload } = await jwtVerify<JWTPayload & Record<string, unknown>>(token, jwks, options);
        return payload;
      } catch (err) {
        throw new AuthFailure(reasonOf(err), scheme);
      }
    },
  };
}

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string" && x !== "") : [];

function principalFrom(payload: JWTPayload & Record<string, unknown>, via: "access" | "bearer"): Principal {
  const email = typeof payload.email === "string" && payload.email !== "" ? payload.email : undefined;
  const groups = strings(payload.groups);
  if (via === "access") {
    // Service tokens: Access forwards a JWT with `common_name` = the client id and no user identity.
    const commonName = typeof payload.common_name === "string" ? payload.common_name : "";
    if (email === undefined && commonName !== "") {
      return { subject: commonName, type: "service", groups, via };
    }
    if (email === undefined) throw new AuthFailure("bad_claims", via);
    return { subject: email, type: "user", email, groups, via };
  }
  const sub = typeof payload.sub === "string" ? payload.sub : "";
  if (email !== undefined) return { subject: email, type: "user", email, groups, via };
  if (sub === "") throw new AuthFailure("bad_claims", via);
  return { subject: sub, type: "service", groups, via };
}

export function createAuthenticator(config: AuthnConfig): Authenticator {
  if (config.mode === "none") return { authenticate: async () => DEV_PRINCIPAL };
  if (config.access === undefined && config.bearer === undefined) {
    throw new Error("authentication needs an Access or bearer issuer (or mode none)");
  }
  const access = config.access === undefined ? undefined : verifier("access", config.access, config);
  const bearer = config.bearer === undefined ? undefined : verifier("bearer", config.bearer, config);
  return {
    async authenticate(headers) {
      if (access !== undefined) {
        const token = headers.get(ACCESS_HEADER) ?? cookieValue(headers.get("cookie"), ACCESS_COOKIE);
        if (token !== undefined && token !== null) {
          return principalFrom(await access.verify(token.trim()), "access");
        }
      }
      if (bearer !== undefined) {
        const authorization = headers.get("authorization");
        if (authorization !== null) {
          const match = /^Bearer +(\S+)$/i.exec(authorization.trim());
          if (match === null) throw new AuthFailure("malformed_token", "bearer");
          return principalFrom(await bearer.verify(match[1] as string), "bearer");
        }
      }
      throw new AuthFailure("missing_credentials", access !== undefined ? "access" : "bearer");
    },
  };
}
