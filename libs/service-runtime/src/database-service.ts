/**
 * The one `main()` of every database-backed gRPC service: validated config -> logger -> database (fail fast
 * with one line when unreachable) -> server from the app's `createServer` -> listen; on SIGTERM/SIGINT stop
 * accepting and drain (bounded), close the ORM, flush logs — in that order.
 */
import { readFileSync } from "node:fs";
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  type CommonConfig,
  ConfigError,
  type ConfigIssue,
  loadConfig,
  resolveProfile,
} from "@taskmaster/config/config";
import { createMaskingPolicy, type MaskingPolicy } from "@taskmaster/config/masking";
import { type ServiceSecurityConfig, serviceSecuritySchema } from "@taskmaster/config/service-security";
import { recordSecurityEvent } from "@taskmaster/persistence/security-events.repository";
import { openServiceDatabase } from "@taskmaster/persistence/service-database";
import type { GrpcLimits, GrpcServer, ServerSecurityDefaults } from "@taskmaster/rpc-kit/grpc-server";
import {
  createIdentitySigner,
  importIdentitySigningKey,
  importIdentityVerifyKey,
  type VerifiedIdentity,
} from "@taskmaster/rpc-kit/identity";
import { type RunningService, runService } from "@taskmaster/rpc-kit/lifecycle";
import { type OutboundSecurity, outboundChannel } from "@taskmaster/rpc-kit/outbound";
import { createSuspiciousInputInterceptor } from "@taskmaster/rpc-kit/suspicious-input";
import { serverCredentials } from "@taskmaster/rpc-kit/tls";
import { createLogger, flushLogger, type Logger } from "@taskmaster/telemetry/logger";
import { createProcessMetrics, type ProcessMetrics } from "@taskmaster/telemetry/metrics";

/** What every service's `createServer(deps)` receives. */
export interface ServiceDeps {
  readonly orm: MikroORM;
  readonly logger: Logger;
  readonly config: CommonConfig;
  readonly limits: GrpcLimits;
  readonly maxDeadlineMs: number;
  /** The masking policy from TASKMASTER_MASK_KEYS / TASKMASTER_MASK_PATTERNS (the logger masks with it too). */
  readonly masking?: MaskingPolicy | undefined;
  /** The process's metrics (RPC, pool, security events, jobs), exposed on /metrics. */
  readonly metrics: ProcessMetrics;
  /** TLS of this process's outgoing channels and, for delegating services, the identity signer. */
  readonly outbound?: OutboundSecurity | undefined;
  /**
   * TLS / mTLS, gateway identity verification and the suspicious-input recorder for the server
   * (`createGrpcServer({ security })`); absent (tests): insecure, no identity verification.
   */
  readonly security?: ServerSecurityDefaults | undefined;
}

export interface DatabaseServiceOptions {
  /** Process name for logs and `application_name`, e.g. "task-service". */
  readonly name: string;
  /** `GRPC_PORT` default. The launcher and compose pass the port explicitly. */
  readonly defaultGrpcPort: number;
  /**
   * The service calls others on behalf of its callers (template-service -> task-service): it signs their
   * verified identity with TASKMASTER_IDENTITY_SIGNING_KEY_FILE, which is then required whenever identity is.
   */
  readonly delegatesIdentity?: boolean | undefined;
  readonly createServer: (deps: ServiceDeps) => GrpcServer;
}

export function runDatabaseService(options: DatabaseServiceOptions): RunningService {
  let logger: Logger | undefined;
  return runService({
    name: options.name,
    logger: () => logger,
    async start() {
      const config = loadConfig(serviceSecuritySchema(resolveProfile(process.env)), process.env, {
        service: options.name,
        defaultGrpcPort: options.defaultGrpcPort,
      });
      const masking = createMaskingPolicy(config.masking);
      const log = createLogger({ service: options.name, level: config.log.level, masking });
      logger = log;
      const readFile = (path: string) => readFileSync(path, "utf8");
      const security = await serverSecurityFromConfig(
        config.service,
        readFile,
        (reason, service) => log.warn({ reason, service }, "rejected identity token"),
        (identity, service) =>
          log.info(
            { subject: identity.subject, via: identity.actors, service },
            "delegated identity accepted",
          ),
        config.profile === "development",
      );
      const outbound = await outboundSecurityFromConfig(config.service, readFile, {
        name: options.name,
        delegatesIdentity: options.delegatesIdentity === true,
      });
      log.info(
        {
          tls: config.service.tls === undefined ? "off" : config.service.tls.clientCaFile ? "mtls" : "tls",
          identity:
            config.service.identity.publicKeyFile === undefined
              ? "off"
              : config.service.identity.required
                ? "required"
                : "optional",
          trustedServices: Object.keys(config.service.identity.trustedKeyFiles ?? {}),
          delegation: outbound.signer === undefined ? "off" : "on",
          clientTls:
            config.service.clientTls === undefined
              ? "off"
              : config.service.clientTls.certFile
                ? "mtls"
                : "tls",
        },
        "gRPC transport security",
      );
      const orm = await openServiceDatabase(config.database, options.name, {
        profile: config.profile,
        // Staging/production refuse a privileged role inside openServiceDatabase; here it is only reported.
        onRole: (role, problem) =>
          problem === undefined
            ? log.info({ databaseUser: role.user }, "database role: taskmaster_app member (least privilege)")
            : log.warn(
                { databaseUser: role.user, problem },
                `database role is not least privilege: ${problem}`,
              ),
      });
      const metrics = createProcessMetrics();
      const suspicious = suspiciousInputRecorder({ orm, logger: log, metrics });
      const server = options.createServer({
        orm,
        logger: log,
        masking,
        config,
        limits: {
          maxReceiveMessageLength: config.grpc.maxReceiveMessageBytes,
          maxSendMessageLength: config.grpc.maxSendMessageBytes,
        },
        maxDeadlineMs: config.grpc.maxDeadlineMs,
        metrics,
        outbound,
        // TLS / mTLS, gateway identity verification and suspicious-input recording.
        security: { ...security, interceptors: [suspicious.interceptor] },
      });
      try {
        await server.listen(config.server.host, config.server.grpcPort);
      } catch (error) {
        await orm.close();
        throw error;
      }
      const grace = config.shutdown.graceMs;
      // Per-process HTTP /health, /health/database, /status (HEALTH_PORT) and /metrics (METRICS_PORT).
      const { startProcessEndpoints } = await import("./process-endpoints.js");
      const http = await startProcessEndpoints({
        orm,
        config,
        health: server.health,
        metrics,
        logger: log,
        gitCommit: process.env.GIT_COMMIT,
      }).catch(async (error: unknown) => {
        await server.shutdown(0);
        await orm.close();
        throw error;
      });
      return {
        steps: [
          { name: "http", run: () => http.close() },
          { name: "grpc", run: () => server.shutdown(grace), timeoutMs: grace + 1_000 },
          { name: "security-events", run: () => suspicious.settled(), timeoutMs: 2_000 },
          { name: "orm", run: () => orm.close() },
          { name: "logs", run: () => flushLogger(log) },
        ],
      };
    },
  });
}

export interface SuspiciousInputRecorder {
  /** Server interceptor: records and counts suspicious requests, then lets the call proceed unchanged. */
  readonly interceptor: ReturnType<typeof createSuspiciousInputInterceptor>;
  /** Resolves once every security event recorded so far is written (or failed and was logged). */
  settled(): Promise<void>;
}

/**
 * Suspicious-input detection for a database-backed service: each suspicious request becomes one
 * `security_events` row (kind `suspicious_input`; detail = reason, RPC, field paths and lengths, never the
 * value) and increments `security_events_total{kind="suspicious_input",reason}`. Recording is
 * fire-and-forget on its own EntityManager fork: it never fails or delays the call; errors are logged.
 */
export function suspiciousInputRecorder(deps: {
  readonly orm: MikroORM;
  readonly logger: Logger;
  /** Counts into its `security_events_total`. */
  readonly metrics: ProcessMetrics;
}): SuspiciousInputRecorder {
  const pending = new Set<Promise<unknown>>();
  const counter = deps.metrics.securityEvents;
  const interceptor = createSuspiciousInputInterceptor({
    count: (reason) => counter.inc({ kind: "suspicious_input", reason }),
    record: (event) => {
      const first = event.findings[0];
      const write = recordSecurityEvent(deps.orm.em.fork(), {
        kind: "suspicious_input",
        reason: first?.reason ?? "unspecified",
        identity: event.identity,
        ip: event.ip,
        rpcMethod: event.rpcMethod,
        userAgent: event.userAgent,
        requestId: event.requestId,
        traceId: event.traceId,
        details: {
          fields: event.findings.map((f) => `${f.field}:${f.reason}:${f.length}`).join(","),
          findings: event.findings.length,
        },
      });
      const tracked = write.catch(() => undefined).finally(() => pending.delete(tracked));
      pending.add(tracked);
      return write;
    },
    onError: (err) => deps.logger.error({ err }, "cannot record suspicious-input security event"),
  });
  return {
    interceptor,
    async settled() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}

/**
 * Server credentials and identity verification from the security settings: files are read here, and an
 * unreadable file or a key that is not an Ed25519 SPKI PEM is one ConfigError line naming the variable.
 */
export async function serverSecurityFromConfig(
  security: ServiceSecurityConfig,
  readFile: (path: string) => string,
  onInvalid?: (reason: string, service: string) => void,
  onDelegated?: (identity: VerifiedIdentity, service: string) => void,
  /** Development profile: token-less calls keep their plain actor headers (see `acceptPlainHeaders`). */
  development = false,
): Promise<ServerSecurityDefaults> {
  const issues: ConfigIssue[] = [];
  const read = fileReader(readFile, issues);
  const tls = security.tls;
  const cert = read("GRPC_TLS_CERT_FILE", tls?.certFile);
  const key = read("GRPC_TLS_KEY_FILE", tls?.keyFile);
  const clientCa = read("GRPC_TLS_CLIENT_CA_FILE", tls?.clientCaFile);
  const pem = read("TASKMASTER_IDENTITY_PUBLIC_KEY_FILE", security.identity.publicKeyFile);
  let verifyKey: Awaited<ReturnType<typeof importIdentityVerifyKey>> | undefined;
  if (pem !== undefined) {
    try {
      verifyKey = await importIdentityVerifyKey(pem);
    } catch {
      issues.push({
        variable: "TASKMASTER_IDENTITY_PUBLIC_KEY_FILE",
        message: "is not an Ed25519 public key in SPKI PEM form",
      });
    }
  }
  const services = new Map<string, Awaited<ReturnType<typeof importIdentityVerifyKey>>>();
  for (const [service, file] of Object.entries(security.identity.trustedKeyFiles ?? {})) {
    const peerPem = read("TASKMASTER_IDENTITY_TRUSTED_KEYS", file);
    if (peerPem === undefined) continue;
    try {
      services.set(service, await importIdentityVerifyKey(peerPem));
    } catch {
      issues.push({
        variable: "TASKMASTER_IDENTITY_TRUSTED_KEYS",
        message: `${service}: is not an Ed25519 public key in SPKI PEM form`,
      });
    }
  }
  let credentials: ServerSecurityDefaults["credentials"];
  if (cert !== undefined && key !== undefined) {
    try {
      credentials = serverCredentials({ cert, key, clientCa });
    } catch (err) {
      issues.push({
        variable: "GRPC_TLS_CERT_FILE/GRPC_TLS_KEY_FILE",
        message: `are not a usable PEM certificate and key (${(err as Error).message.split("\n")[0]})`,
      });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return {
    credentials,
    identity:
      verifyKey === undefined
        ? undefined
        : {
            key: verifyKey,
            services,
            required: security.identity.required,
            acceptPlainHeaders: development && !security.identity.required,
            onInvalid,
            onDelegated,
          },
  };
}

/** Reads a configured file; an unreadable one becomes an issue naming the variable. */
function fileReader(readFile: (path: string) => string, issues: ConfigIssue[]) {
  return (variable: string, path: string | undefined): string | undefined => {
    if (path === undefined) return undefined;
    try {
      return readFile(path);
    } catch (err) {
      issues.push({
        variable,
        message: `cannot be read (${(err as NodeJS.ErrnoException).code ?? "unreadable"})`,
      });
      return undefined;
    }
  };
}

/**
 * The process's outgoing-call security: client TLS (GRPC_CLIENT_TLS_*) for its channels and, for a service
 * that `delegatesIdentity`, a signer from TASKMASTER_IDENTITY_SIGNING_KEY_FILE issuing as
 * `taskmaster-<name>` (required then whenever identity is required). Problems are one ConfigError line.
 */
export async function outboundSecurityFromConfig(
  security: ServiceSecurityConfig,
  readFile: (path: string) => string,
  service: { readonly name: string; readonly delegatesIdentity: boolean },
): Promise<OutboundSecurity> {
  const issues: ConfigIssue[] = [];
  const read = fileReader(readFile, issues);
  const tls = security.clientTls;
  const ca = read("GRPC_CLIENT_TLS_CA_FILE", tls?.caFile);
  const cert = read("GRPC_CLIENT_TLS_CERT_FILE", tls?.certFile);
  const key = read("GRPC_CLIENT_TLS_KEY_FILE", tls?.keyFile);
  let channel: OutboundSecurity["channel"];
  if (tls !== undefined && issues.length === 0) {
    try {
      channel = outboundChannel({ ca, cert, key, serverName: tls.serverName });
    } catch (err) {
      issues.push({
        variable: "GRPC_CLIENT_TLS_*",
        message: `are not a usable PEM CA / certificate and key (${(err as Error).message.split("\n")[0]})`,
      });
    }
  }
  let signer: OutboundSecurity["signer"];
  const signingFile = security.identity.signingKeyFile;
  if (service.delegatesIdentity) {
    if (signingFile === undefined && security.identity.required) {
      issues.push({
        variable: "TASKMASTER_IDENTITY_SIGNING_KEY_FILE",
        message: `is required for ${service.name} when identity is required (it calls other services for its callers)`,
      });
    }
    const pem = read("TASKMASTER_IDENTITY_SIGNING_KEY_FILE", signingFile);
    if (pem !== undefined) {
      try {
        signer = createIdentitySigner(await importIdentitySigningKey(pem), { service: service.name });
      } catch {
        issues.push({
          variable: "TASKMASTER_IDENTITY_SIGNING_KEY_FILE",
          message: "is not an Ed25519 private key in PKCS#8 PEM form",
        });
      }
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return { channel, signer };
}
