/**
 * The internal identity token: the gateway signs who is calling (subject, type, roles, teams) as a short-lived
 * EdDSA (Ed25519) JWT with `aud` = the target service, sent as metadata `x-taskmaster-identity`. Services
 * verify it with the gateway's PUBLIC key, so a client talking to a service directly cannot forge an
 * identity (it never holds the private key).
 *
 * `createIdentityInterceptor` is the service-side verifier: it drops any caller-supplied `x-taskmaster-actor`
 * / `x-taskmaster-roles`, verifies the token and, when valid, sets them from the verified claims and the
 * `identityKey` context value, so handlers that read `x-taskmaster-actor` see only a verified subject.
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
export const IDENTITY_ISSUER = "taskmaster-gateway";
const ALG = "EdDSA";

export type IdentityType = "user" | "service" | "anonymous";

/** A caller as verified by the gateway. */
export interface VerifiedIdentity {
  /** Email for people, service token client id / service name for services. */
  readonly subject: string;
  readonly type: IdentityType;
  readonly roles: readonly string[];
  readonly teams: readonly string[];
  readonly email?: string | undefined;
}

/** The verified identity of the current call, or undefined (no or invalid token). */
export const identityKey = createContextKey<VerifiedIdentity | undefined>(undefined, {
  description: "taskmaster verified identity",
});

/** Read the verified identity in a handler. */
export function verifiedIdentity(ctx: HandlerContext): VerifiedIdentity | undefined {
  return ctx.values.get(identityKey);
}

/** Import the gateway's Ed25519 private key (PKCS#8 PEM). */
export function importIdentitySigningKey(pem: string): Promise<CryptoKey> {
  return importPKCS8(pem, ALG);
}

/** Import the gateway's Ed25519 public key (SPKI PEM). */
export function importIdentityVerifyKey(pem: string): Promise<CryptoKey> {
  return importSPKI(pem, ALG);
}

export interface IdentitySigner {
  /** A token for `audience` (the target service's full name), valid for `ttlSeconds`. */
  sign(identity: VerifiedIdentity, audience: string): Promise<string>;
}

/**
 * Signer with a small per-(subject, audience) cache: the token is reused while more than half of its life
 * remains, so a busy caller does not cost one signature per call.
 */
export function createIdentitySigner(key: CryptoKey, options: { ttlSeconds?: number } = {}): IdentitySigner {
  const ttl = options.ttlSeconds ?? 60;
  const cache = new Map<string, { token: string; renewAt: number }>();
  return {
    async sign(identity, audience) {
      const cacheKey = JSON.stringify([
        identity.subject,
        identity.type,
        identity.roles,
        identity.teams,
        audience,
      ]);
      const now = Date.now();
      const hit = cache.get(cacheKey);
      if (hit !== undefined && hit.renewAt > now) return hit.token;
      const token = await new SignJWT({
        typ: identity.type,
        roles: [...identity.roles],
        teams: [...identity.teams],
        ...(identity.email !== undefined && { email: identity.email }),
      })
        .setProtectedHeader({ alg: ALG, typ: "JWT" })
        .setSubject(identity.subject)
        .setIssuer(IDENTITY_ISSUER)
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

/** Verify a token for `audience`. Throws (jose errors) when invalid. */
export async function verifyIdentityToken(
  token: string,
  key: CryptoKey,
  audience: string | readonly string[],
  clockToleranceSeconds = 5,
): Promise<VerifiedIdentity> {
  const { payload } = await jwtVerify<JWTPayload & Record<string, unknown>>(token, key, {
    algorithms: [ALG],
    issuer: IDENTITY_ISSUER,
    audience: typeof audience === "string" ? audience : [...audience],
    clockTolerance: clockToleranceSeconds,
    requiredClaims: ["sub", "exp", "iat"],
  });
  const type = payload.typ === "service" || payload.typ === "anonymous" ? payload.typ : "user";
  return {
    subject: payload.sub as string,
    type,
    roles: stringArray(payload.roles),
    teams: stringArray(payload.teams),
    email: typeof payload.email === "string" ? payload.email : undefined,
  };
}

export interface IdentityInterceptorOptions {
  /** The gateway's public key (`importIdentityVerifyKey`). */
  readonly key: CryptoKey;
  /**
   * Accepted audiences. Default: the called service's full name (`taskmaster.task.v1.TaskService`), so a
   * token minted for one service is not replayable against another.
   */
  readonly audience?: string | readonly string[] | undefined;
  /** Reject calls without a valid token with UNAUTHENTICATED (default false: call proceeds anonymous). */
  readonly required?: boolean | undefined;
  readonly clockToleranceSeconds?: number | undefined;
  /** Called for every rejected token (log/metric). Never gets the token. */
  readonly onInvalid?: ((reason: string, service: string) => void) | undefined;
}

/**
 * Service-side verifier. Caller-supplied `x-taskmaster-actor`/`x-taskmaster-roles` never survive: they are
 * deleted, then set again only from a verified token.
 */
export function createIdentityInterceptor(options: IdentityInterceptorOptions): Interceptor {
  return (next) => async (req) => {
    const token = req.header.get(IDENTITY_HEADER);
    req.header.delete(ACTOR_HEADER);
    req.header.delete(ROLES_HEADER);
    req.header.delete(IDENTITY_HEADER);
    let identity: VerifiedIdentity | undefined;
    if (token !== null && token !== "") {
      try {
        identity = await verifyIdentityToken(
          token,
          options.key,
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
    req.contextValues.set(identityKey, identity);
    return next(req);
  };
}
