/**
 * Fixtures for the edge security specs, all real: a local JWKS HTTP server with real RS256 keys (jose), an
 * Ed25519 identity key pair, and one grpc-js upstream serving every public service (plus AuditService)
 * with a TaskService that reports what it received and a WatchTasks that holds until cancelled. Every
 * other RPC answers UNIMPLEMENTED: what the matrix checks is whether the gateway let the call through.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { AuditService } from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_service_pb";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import {
  createGrpcServer,
  type GrpcServer,
  partialServiceRegistration,
} from "@taskmaster/rpc-kit/grpc-server";
import {
  ACTOR_HEADER,
  createIdentityInterceptor,
  IDENTITY_HEADER,
  ROLES_HEADER,
  verifiedIdentity,
} from "@taskmaster/rpc-kit/identity";
import type { Logger } from "@taskmaster/telemetry/logger";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";

export const ALL_SERVICES: readonly DescService[] = [
  TaskService,
  TemplateService,
  MonitoringService,
  AuditService,
];

export interface RsaKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly jwk: JWK;
}

export async function rsaKey(kid: string): Promise<RsaKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  return { kid, privateKey, publicKey, jwk };
}

/** A JWKS endpoint over real HTTP whose key list tests can rotate; counts fetches. */
export interface JwksServer {
  readonly url: string;
  keys: JWK[];
  fetches: number;
  close(): Promise<void>;
}

export async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  const state = { keys, fetches: 0 };
  const server: Server = createServer((_req, res) => {
    state.fetches++;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cdn-cgi/access/certs`;
  return Object.assign(state, {
    url,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

export interface TokenOptions {
  readonly key: RsaKey;
  readonly issuer: string;
  readonly audience: string | string[];
  readonly claims?: JWTPayload & Record<string, unknown>;
  /** Seconds relative to now. */
  readonly expiresIn?: number;
  readonly notBefore?: number;
  readonly kid?: string;
}

export function signToken(o: TokenOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...o.claims })
    .setProtectedHeader({ alg: "RS256", kid: o.kid ?? o.key.kid, typ: "JWT" })
    .setIssuer(o.issuer)
    .setAudience(o.audience)
    .setIssuedAt(now - 5)
    .setExpirationTime(now + (o.expiresIn ?? 300));
  if (o.notBefore !== undefined) jwt.setNotBefore(now + o.notBefore);
  return jwt.sign(o.key.privateKey);
}

export interface Upstream {
  readonly server: GrpcServer;
  readonly address: string;
  /** Resolves when a WatchTasks call is being held. */
  watchStarted(): Promise<void>;
  /** Resolves when a held WatchTasks call was cancelled. */
  watchEnded(): Promise<void>;
}

/**
 * The upstream: verifies the gateway identity token (like a service would) and answers GetTask with a JSON
 * title `{ actor, roles, identityHeader, verified }` describing what its handler saw.
 */
export async function startUpstream(logger: Logger, identityKey: CryptoKey): Promise<Upstream> {
  let onWatch: (() => void) | undefined;
  let onWatchEnd: (() => void) | undefined;
  const task: Partial<ServiceImpl<typeof TaskService>> = {
    getTask(_req, ctx) {
      const id = verifiedIdentity(ctx);
      return {
        task: {
          name: "tasks/0190a0b0-0000-7000-8000-000000000001",
          title: JSON.stringify({
            actor: ctx.requestHeader.get(ACTOR_HEADER),
            roles: ctx.requestHeader.get(ROLES_HEADER),
            identityHeader: ctx.requestHeader.get(IDENTITY_HEADER),
            verified: id === undefined ? null : { subject: id.subject, type: id.type, roles: id.roles },
          }),
        },
      };
    },
    async *watchTasks(_req, ctx) {
      onWatch?.();
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
      onWatchEnd?.();
    },
  };
  const server = createGrpcServer({
    logger,
    services: [
      partialServiceRegistration(TaskService, task),
      partialServiceRegistration(TemplateService, {}),
      partialServiceRegistration(MonitoringService, {}),
      partialServiceRegistration(AuditService, {}),
    ],
    interceptors: [createIdentityInterceptor({ key: identityKey })],
    reflection: false,
  });
  const { address } = await server.listen("127.0.0.1", 0);
  return {
    server,
    address,
    watchStarted: () =>
      new Promise<void>((resolve) => {
        onWatch = resolve;
      }),
    watchEnded: () =>
      new Promise<void>((resolve) => {
        onWatchEnd = resolve;
      }),
  };
}
