/**
 * A real Taskmaster stack in this process for the SDK's tests: a fresh migrated PostgreSQL database (template
 * types seeded), task, template and monitoring services on gRPC port 0 running as the least-privilege login,
 * and the gateway (development authentication) on HTTP port 0 in front of them.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MikroORM } from "@mikro-orm/postgresql";
import { developmentIdentityEnv } from "@taskmaster/dev/dev-identity";
import { createAuthenticator } from "@taskmaster/gateway/authn";
import { createRoleResolver, roleMapSchema } from "@taskmaster/gateway/authz";
import { LIMIT_DEFAULTS } from "@taskmaster/gateway/gateway-config";
import { createSecurityEvents } from "@taskmaster/gateway/security-events";
import { createGatewayServer, type Gateway } from "@taskmaster/gateway/server";
import { createServer as createMonitoringServer } from "@taskmaster/monitoring-service/server";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { seedDatabase } from "@taskmaster/persistence/seed";
import { AuditService } from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_service_pb";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import type { GrpcServer, ServerSecurityDefaults } from "@taskmaster/rpc-kit/grpc-server";
import {
  createIdentitySigner,
  type IdentitySigner,
  importIdentitySigningKey,
  importIdentityVerifyKey,
} from "@taskmaster/rpc-kit/identity";
import { createServer as createTaskServer } from "@taskmaster/task-service/server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createServer as createTemplateServer } from "@taskmaster/template-service/server";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";

export interface Stack {
  db: TestDatabase;
  /** The gateway, e.g. `http://127.0.0.1:40123`. */
  gatewayUrl: string;
  /** Direct gRPC base URLs of the services. */
  direct: { task: string; template: string; monitoring: string };
  gateway: Gateway;
  close(): Promise<void>;
}

export interface StackOptions {
  /**
   * Development identity as `./taskmaster start` sets it up (the launcher's own key files): the gateway signs
   * the developer's identity, services verify it (token-less direct calls keep their plain headers),
   * template-service delegates to task-service with its own key.
   */
  readonly identity?: boolean;
}

interface IdentityWiring {
  /** Every service's server security: identity verification (development: plain headers accepted too). */
  security: ServerSecurityDefaults;
  gateway: IdentitySigner;
  template: IdentitySigner;
  cleanup(): void;
}

async function developmentIdentity(): Promise<IdentityWiring> {
  const dir = mkdtempSync(join(tmpdir(), "tm-dev-identity-"));
  const env = developmentIdentityEnv(dir);
  const read = (name: string) => readFileSync(env[name] ?? "", "utf8");
  const trusted = (env.TASKMASTER_IDENTITY_TRUSTED_KEYS ?? "").split("=")[1] ?? "";
  return {
    security: {
      identity: {
        key: await importIdentityVerifyKey(read("TASKMASTER_IDENTITY_PUBLIC_KEY_FILE")),
        services: new Map([
          ["template-service", await importIdentityVerifyKey(readFileSync(trusted, "utf8"))],
        ]),
        acceptPlainHeaders: true,
      },
    },
    gateway: createIdentitySigner(await importIdentitySigningKey(read("GATEWAY_IDENTITY_KEY_FILE"))),
    template: createIdentitySigner(
      await importIdentitySigningKey(read("TASKMASTER_IDENTITY_SIGNING_KEY_FILE")),
      { service: "template-service" },
    ),
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const logger = createLogger({ service: "client-test", level: "silent" });
  const identity = options.identity ? await developmentIdentity() : undefined;
  const db = await createTestDatabase();
  const owner = (await initOrm({ url: db.url, pool: { min: 0, max: 1 } })) as MikroORM;
  await seedDatabase(owner, { demo: false });
  await owner.close(true);
  const orms: MikroORM[] = [];
  const orm = async (url: string) => {
    const o = (await initOrm({ url, pool: { min: 0, max: 4 } })) as MikroORM;
    orms.push(o);
    return o;
  };
  const servers: GrpcServer[] = [];
  const listen = async (server: GrpcServer) => {
    servers.push(server);
    return `127.0.0.1:${(await server.listen("127.0.0.1", 0)).port}`;
  };
  const task = await listen(
    createTaskServer({ orm: await orm(db.appUrl), logger, security: identity?.security }),
  );
  const template = await listen(
    createTemplateServer({
      orm: await orm(db.appUrl),
      logger,
      taskServiceAddress: task,
      usageFlushMs: 0,
      outbound: { signer: identity?.template },
      security: identity?.security,
    }),
  );
  const monitoring = await listen(
    createMonitoringServer({
      orm: await orm(db.monitorUrl),
      logger,
      security: identity?.security,
      monitoring: {
        serviceAddresses: {
          "taskmaster.task.v1.TaskService": task,
          "taskmaster.template.v1.TemplateService": template,
        },
      },
    }),
  );
  const gateway = createGatewayServer({
    logger,
    upstreams: [
      { service: TaskService, address: task },
      { service: TemplateService, address: template },
      { service: MonitoringService, address: monitoring },
      { service: AuditService, address: monitoring },
    ],
    maxTimeoutMs: 30_000,
    signer: identity?.gateway,
    readMaxBytes: 4 * 1024 * 1024,
    edge: {
      authenticator: createAuthenticator({ mode: "none" }),
      resolveRoles: createRoleResolver(roleMapSchema.parse({})),
      events: createSecurityEvents({ logger }),
      limits: LIMIT_DEFAULTS.test,
    },
  });
  await new Promise<void>((resolve) => gateway.server.listen(0, "127.0.0.1", resolve));
  const gatewayUrl = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
  return {
    db,
    gatewayUrl,
    direct: { task: `http://${task}`, template: `http://${template}`, monitoring: `http://${monitoring}` },
    gateway,
    async close() {
      gateway.closeAllConnections();
      await new Promise((resolve) => gateway.server.close(resolve));
      gateway.close();
      for (const server of servers.reverse()) await server.shutdown(1_000);
      for (const o of orms) await o.close(true);
      await db.drop();
      identity?.cleanup();
    },
  };
}
