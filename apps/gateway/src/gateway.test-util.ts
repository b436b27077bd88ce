/**
 * Shared setup of the gateway specs: a real task service to forward to, an open edge for specs about forwarding
 * rather than security, and a gateway listening on a free port.
 */
import type { AddressInfo } from "node:net";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { createServer as createTaskServer } from "@taskmaster/task-service/server";
import type { Logger } from "@taskmaster/telemetry/logger";
import { createTestDatabase } from "@taskmaster/testing/test-database";
import { createAuthenticator } from "./authn.js";
import { createRoleResolver, roleMapSchema } from "./authz.js";
import type { EdgeOptions } from "./edge.js";
import { LIMIT_DEFAULTS } from "./gateway-config.js";
import { createSecurityEvents, type SecurityEvents, type SecurityEventsOptions } from "./security-events.js";
import { createGatewayServer, type Gateway, type GatewayDeps } from "./server.js";

/** Development mode at the edge (no authentication, default roles, test limits); edge.spec.ts covers security. */
export function openEdge(
  logger: SecurityEventsOptions["logger"],
  events: SecurityEvents = createSecurityEvents({ logger }),
): EdgeOptions {
  return {
    authenticator: createAuthenticator({ mode: "none" }),
    resolveRoles: createRoleResolver(roleMapSchema.parse({})),
    events,
    limits: LIMIT_DEFAULTS.test,
  };
}

/** Starts `gateway` on a free port of 127.0.0.1 and returns the port. */
export async function listenGateway(gateway: Gateway): Promise<number> {
  await new Promise<void>((resolve) => gateway.server.listen(0, "127.0.0.1", resolve));
  return (gateway.server.address() as AddressInfo).port;
}

export interface TaskUpstream {
  /** `127.0.0.1:<port>` of the task service. */
  readonly address: string;
  readonly orm: MikroORM;
  /** Stops the service and drops its database. */
  close(): Promise<void>;
}

/** A real task service on port 0 over a fresh migrated database. */
export async function startTaskUpstream(logger: Logger): Promise<TaskUpstream> {
  const db = await createTestDatabase();
  const orm = (await initOrm({ url: db.url, pool: { min: 0, max: 2 } })) as MikroORM;
  const server = createTaskServer({ orm, logger });
  const { port } = await server.listen("127.0.0.1", 0);
  return {
    address: `127.0.0.1:${port}`,
    orm,
    async close() {
      await server.shutdown(1_000);
      await orm.close();
      await db.drop();
    },
  };
}

/** A gateway (not listening) in front of one task service, with an open edge; `deps` override the defaults. */
export function taskGateway(
  logger: Logger,
  upstream: TaskUpstream,
  deps: Partial<Omit<GatewayDeps, "logger" | "upstreams">> = {},
): Gateway {
  return createGatewayServer({
    logger,
    upstreams: [{ service: TaskService, address: upstream.address }],
    maxTimeoutMs: 10_000,
    readMaxBytes: 64 * 1024,
    edge: openEdge(logger),
    ...deps,
  });
}
