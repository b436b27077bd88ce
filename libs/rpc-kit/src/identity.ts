/**
 * The internal identity token: the gateway signs who is calling (subject, type, roles, teams) as a short-lived
 * EdDSA (Ed25519) JWT with `aud` = the target service, sent as metadata `x-taskmaster-identity`. Services
 * verify it with the gateway's PUBLIC key, so a client talking to a service directly cannot forge an
 * identity (it never holds the private key).
 *
 * Delegation (service to service): a service calling another on behalf of ITS verified caller signs a token
 * for the target with its own Ed25519 key (issuer `taskmaster-<service>`), carrying the original caller's
 * claims plus an RFC 8693 `act` claim naming itself (`{"sub":"template-service"}`, nested when the caller was
 * itself delegated). The target trusts it only when it holds that service's public key, and only when the
 * outermost `act.sub` is that issuer's service, so one service's key cannot speak for another.
 *
 * `createIdentityInterceptor` is the service-side verifier: it drops any caller-supplied `x-taskmaster-actor`
 * / `x-taskmaster-roles` / `x-taskmaster-teams`, verifies the token and, when valid, sets them from the
 * verified claims and the `identityKey` context value, so handlers see only a verified subject.
 */
import {
  Code,
  ConnectError,
  createContextKey,
  type HandlerContext,
  type Interceptor,
} from "@connectrpc/connect";
import {
  type CryptoKey,
  decodeJwt,
  importPKCS8,
  importSPKI,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
} from "jose";

export const IDENTITY_HEADER = "x-taskmaster-identity";
export const ACTOR_HEADER = "x-taskmaster-actor";
export const ROLES_HEADER = "x-taskmaster-roles";
export const TEAMS_HEADER = "x-taskmaster-teams";
export const IDENTITY_ISSUER = "taskmaster-gateway";
const ALG = "EdDSA";
/** Longest accepted `act` chain (service -> service -> ... hops). */
const MAX_DELEGATION_DEPTH = 4;
/** Service names usable as a delegating issuer (`taskmaster-<name>`). */
export const SERVICE_NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;

/** The issuer of tokens a service signs on behalf of its callers: `taskmaster-<service>`. */
export function serviceIssuer(service: string): string {
  return `taskmaster-${service}`;
}

export type IdentityType = "user" | "service" | "anonymous";

/** A caller as verified by the gateway. */
export interface VerifiedIdentity {
  /** Email for people, service token client id / service name for services. */
  readonly subject: string;
  readonly type: IdentityType;
  readonly roles: readonly string[];
  readonly teams: readonly string[];
  readonly email?: string | undefined;
  /**
   * Services that act on the subject's behalf, most recent first (the RFC 8693 `act` chain): `["template-service"]`
   * when template-service called with the caller's delegated identity. Absent/empty for a gateway-signed token.
   */
  readonly actors?: readonly string[] | undefined;
}

/** The verified identity of the current call, or undefined (no or invalid token). */
export const identityKey = createContextKey<VerifiedIdentity | undefined>(undefined, {
  description: "taskmaster verified identity",
});

/** Read the verified identity in a handler. */
export function verifiedIdentity(ctx: HandlerContext): VerifiedIdentity | undefined {
  return ctx.values.get(identityKey);
}

/** Import an Ed25519 private key (PKCS#8 PEM): the gateway's, or a service's own delegation key. */
export function importIdentitySigningKey(pem: string): Promise<CryptoKey> {
  return importPKCS8(pem, ALG);
}

/** Import an Ed25519 public key (SPKI PEM): the gateway's, or a trusted peer service's. */
export function importIdentityVerifyKey(pem: string): Promise<CryptoKey> {
  return importSPKI(pem, ALG);
}

export interface IdentitySigner {
  /** A token for `audience` (the target service's full name), valid for `ttlSeconds`. */
  sign(identity: VerifiedIdentity, audience: string): Promise<string>;
}

export interface IdentitySignerOptions {
  readonly ttlSeconds?: number | undefined;
  /**
   * Sign as this service on behalf of verified callers (delegation): issuer `taskmaster-<service>` and an
   * `act` claim naming the service (the caller's own `actors` nested inside). Absent: the gateway.
   */
  readonly service?: string | undefined;
}

/** RFC 8693 `act` claim for `actors` (most recent first): `{ sub: actors[0], act: { sub: actors[1] } }`. */
function actClaim(actors: readonly string[]): Record<string, unknown> | undefined {
  let act: Record<string, unknown> | undefined;
  for (let i = actors.length - 1; i >= 0; i--) act = { sub: actors[i], ...(act !== undefined && { act }) };
  return act;
}

/**
 * Signer with a small per-(subject, audience) cache: the token is reused while more than half of its life
 * remains, so a busy caller does not cost one signature per call.
 */
export function createIdentitySigner(key: CryptoKey, options: IdentitySignerOptions = {}): IdentitySigner {
  const ttl = options.ttlSeconds ?? 60;
  const service = options.service;
  if (service !== undefined && !SERVICE_NAME_PATTERN.test(service)) {
    throw new Error(`invalid service name for identity delegation: ${JSON.stringify(service)}`);
  }
  const issuer = service === undefined ? IDENTITY_ISSUER : serviceIssuer(service);
  const cache = new Map<string, { token: string; renewAt: number }>();
  return {
    async sign(identity, audience) {
      const actors = service === undefined ? [] : [service, ...(identity.actors ?? [])];
      if (actors.length > MAX_DELEGATION_DEPTH) throw new Error("identity delegation chain too long");
      const cacheKey = JSON.stringify([
        identity.subject,
        identity.type,
        identity.roles,
        identity.teams,
        identity.email,
        actors,
        audience,
      ]);
      const now = Date.now();
      const hit = cache.get(cacheKey);
      if (hit !== undefined && hit.renewAt > now) return hit.token;
      const act = actClaim(actors);
      const token = await new SignJWT({
        typ: identity.type,
        roles: [...identity.roles],
        teams: [...identity.teams],
        ...(identity.email !== undefined && { email: identity.email }),
        ...(act !== undefined && { act }),
      })
        .setProtectedHeader({ alg: ALG, typ: "JWT" })
        .setSubject(identity.subject)
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime(`${ttl}s`)
        .sign(key);
      if (cache.size > 10_000) cache.clear();
      cache.set(cacheKey, { token, renewAt: now + (ttl * 1000) / 2 });
      return token;
    },
  };
}

const stringArray = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];

/** The keys a service trusts: the gateway's, and the delegation keys of peer services (service name -> key). */
export interface TrustedIdentityKeys {
  readonly gateway: CryptoKey;
  readonly services?: ReadonlyMap<string, CryptoKey> | undefined;
}

/** The `act` chain as service names, most recent first; throws when malformed or too deep. */
function actorsOf(payload: JWTPayload & Record<string, unknown>): string[] {
  const actors: string[] = [];
  let act: unknown = payload.act;
  while (act !== undefined) {
    const sub = typeof act === "object" && act !== null ? (act as { sub?: unknown }).sub : undefined;
    if (typeof sub !== "string" || !SERVICE_NAME_PATTERN.test(sub) || actors.length >= MAX_DELEGATION_DEPTH) {
      throw new joseErrors.JWTClaimValidationFailed('invalid "act" claim', payload, "act", "invalid");
    }
    actors.push(sub);
    act = (act as { act?: unknown }).act;
  }
  return actors;
}

/**
 * Verify a token for `audience` against the gateway's key (a bare `CryptoKey`) or the trusted keys. A token
 * from a peer service (issuer `taskmaster-<service>`) must name that service as its outermost `act`; a
 * gateway token carries no `act`. Throws (jose errors) when invalid.
 */
export async function verifyIdentityToken(
  token: string,
  keys: CryptoKey | TrustedIdentityKeys,
  audience: string | readonly string[],
  clockToleranceSeconds = 5,
): Promise<VerifiedIdentity> {
  const trusted: TrustedIdentityKeys = "gateway" in keys ? keys : { gateway: keys };
  // The issuer only selects the key; every claim is checked after the signature is.
  let issuer: unknown;
  try {
    issuer = decodeJwt(token).iss;
  } catch {
    throw new joseErrors.JWTInvalid("malformed token");
  }
  let key: CryptoKey | undefined;
  let service: string | undefined;
  if (issuer === IDENTITY_ISSUER) {
    key = trusted.gateway;
  } else if (typeof issuer === "string" && issuer.startsWith("taskmaster-")) {
    service = issuer.slice("taskmaster-".length);
    key = trusted.services?.get(service);
  }
  if (key === undefined) {
    throw new joseErrors.JWTClaimValidationFailed('untrusted "iss" claim', {}, "iss", "check_failed");
  }
  const { payload } = await jwtVerify<JWTPayload & Record<string, unknown>>(token, key, {
    algorithms: [ALG],
    issuer: issuer as string,
    audience: typeof audience === "string" ? audience : [...audience],
    clockTolerance: clockToleranceSeconds,
    requiredClaims: ["sub", "exp", "iat"],
  });
  const actors = actorsOf(payload);
  if (service === undefined ? actors.length > 0 : actors[0] !== service) {
    throw new joseErrors.JWTClaimValidationFailed(
      '"act" does not match the issuer',
      payload,
      "act",
      "mismatch",
    );
  }
  const type = payload.typ === "service" || payload.typ === "anonymous" ? payload.typ : "user";
  return {
    subject: payload.sub as string,
    type,
    roles: stringArray(payload.roles),
    teams: stringArray(payload.teams),
    email: typeof payload.email === "string" ? payload.email : undefined,
    ...(actors.length > 0 && { actors }),
  };
}

export interface IdentityInterceptorOptions {
  /** The gateway's public key (`importIdentityVerifyKey`). */
  readonly key: CryptoKey;
  /**
   * Peer services whose delegated tokens are trusted: service name -> its public key (e.g. task-service
   * trusts `template-service`). Default: none (only the gateway's tokens).
   */
  readonly services?: ReadonlyMap<string, CryptoKey> | undefined;
  /**
   * Accepted audiences. Default: the called service's full name (`taskmaster.task.v1.TaskService`), so a
   * token minted for one service is not replayable against another.
   */
  readonly audience?: string | readonly string[] | undefined;
  /** Reject calls without a valid token with UNAUTHENTICATED (default false: call proceeds anonymous). */
  readonly required?: boolean | undefined;
  readonly clockToleranceSeconds?: number | undefined;
  /**
   * Development only: a call WITHOUT a token keeps its plain `x-taskmaster-actor`/`-roles`/`-teams` headers,
   * so direct calls to a development service's port work as before identity keys existed. A call with a
   * token is always verified (and its plain headers replaced). Never set in staging or production.
   */
  readonly acceptPlainHeaders?: boolean | undefined;
  /** Called for every rejected token (log/metric). Never gets the token. */
  readonly onInvalid?: ((reason: string, service: string) => void) | undefined;
  /** Called for every accepted delegated token (identity with `actors`), e.g. to log the act chain. */
  readonly onDelegated?: ((identity: VerifiedIdentity, service: string) => void) | undefined;
}

/**
 * Service-side verifier. Caller-supplied `x-taskmaster-actor`/`-roles`/`-teams` never survive: they are
 * deleted, then set again only from a verified token.
 */
export function createIdentityInterceptor(options: IdentityInterceptorOptions): Interceptor {
  const keys: TrustedIdentityKeys = { gateway: options.key, services: options.services };
  return (next) => async (req) => {
    const token = req.header.get(IDENTITY_HEADER);
    if (
      (token === null || token === "") &&
      options.acceptPlainHeaders === true &&
      options.required !== true
    ) {
      return next(req);
    }
    req.header.delete(ACTOR_HEADER);
    req.header.delete(ROLES_HEADER);
    req.header.delete(TEAMS_HEADER);
    req.header.delete(IDENTITY_HEADER);
    let identity: VerifiedIdentity | undefined;
    if (token !== null && token !== "") {
      try {
        identity = await verifyIdentityToken(
          token,
          keys,
          options.audience ?? req.service.typeName,
          options.clockToleranceSeconds,
        );
      } catch (err) {
        options.onInvalid?.(err instanceof joseErrors.JOSEError ? err.code : "invalid", req.service.typeName);
      }
    }
    if (identity === undefined) {
      if (options.required === true) throw new ConnectError("unauthenticated", Code.Unauthenticated);
      return next(req);
    }
    req.header.set(ACTOR_HEADER, identity.subject);
    req.header.set(ROLES_HEADER, identity.roles.join(","));
    if (identity.teams.length > 0) req.header.set(TEAMS_HEADER, identity.teams.join(","));
    req.contextValues.set(identityKey, identity);
    if (identity.actors !== undefined) options.onDelegated?.(identity, req.service.typeName);
    return next(req);
  };
}
