import type { MikroORM } from "@mikro-orm/postgresql";
import { createServer as createMonitoringServer } from "@taskmaster/monitoring-service/server";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCESS_HEADER, createAuthenticator } from "./authn.js";
import { createRoleResolver, roleMapSchema } from "./authz.js";
import { type JwksServer, type RsaKey, rsaKey, signToken, startJwksServer } from "./edge.test-util.js";
import { listenGateway } from "./gateway.test-util.js";
import { LIMIT_DEFAULTS } from "./gateway-config.js";
import { createSecurityEvents, type SecurityEvents } from "./security-events.js";
import { createGatewayServer, type Gateway } from "./server.js";

const logger = createLogger({ service: "test", level: "silent" });
const TEAM = "https://status-team.cloudflareaccess.com";
const AUD = "aud-status-0123456789";

let db: TestDatabase;
let orm: MikroORM;
let monitoring: GrpcServer;
let monitoringAddress: string;
let jwks: JwksServer;
let key: RsaKey;

async function startGateway(
  address: string,
): Promise<{ gateway: Gateway; base: string; events: SecurityEvents }> {
  const events = createSecurityEvents({ logger });
  const gateway = createGatewayServer({
    logger,
    upstreams: [{ service: MonitoringService, address }],
    maxTimeoutMs: 5_000,
    readMaxBytes: 64 * 1024,
    edge: {
      authenticator: createAuthenticator({
        mode: "jwt",
        access: { issuer: TEAM, jwksUrl: jwks.url, audience: [AUD] },
        jwksCooldownMs: 0,
      }),
      resolveRoles: createRoleResolver(
        roleMapSchema.parse({ emails: { "reader@example.com": ["reader"], "admin@example.com": ["admin"] } }),
      ),
      events,
      limits: LIMIT_DEFAULTS.test,
    },
  });
  return { gateway, base: `http://127.0.0.1:${await listenGateway(gateway)}`, events };
}

async function stop(gateway: Gateway): Promise<void> {
  gateway.closeAllConnections();
  await new Promise((resolve) => gateway.server.close(resolve));
  gateway.close();
}

const tokenFor = (email: string) => signToken({ key, issuer: TEAM, audience: AUD, claims: { email } });

beforeAll(async () => {
  db = await createTestDatabase();
  orm = (await initOrm({ url: db.monitorUrl, pool: { min: 0, max: 4 } })) as MikroORM;
  monitoring = createMonitoringServer({
    orm,
    logger,
    monitoring: { serviceAddresses: {}, healthIntervalMs: 60_000, alerting: { manual: true } },
  });
  monitoringAddress = `127.0.0.1:${(await monitoring.listen("127.0.0.1", 0)).port}`;
  key = await rsaKey("status-key");
  jwks = await startJwksServer([key.jwk]);
});

afterAll(async () => {
  await monitoring?.shutdown(1_000);
  await orm?.close(true);
  await jwks?.close();
  await db?.drop();
});

describe("GET /health/database", () => {
  it("answers without credentials from the monitoring service's database check, briefly", async () => {
    const { gateway, base } = await startGateway(monitoringAddress);
    try {
      const res = await fetch(`${base}/health/database`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/json");
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ status: "SERVING", reachable: true });
      expect(typeof body.roundTripMs).toBe("number");
      expect(Date.parse(String(body.checkTime))).not.toBeNaN();
      // Public, so nothing beyond the summary: no versions, sizes, connections or queries.
      expect(Object.keys(body).sort()).toEqual(["checkTime", "reachable", "roundTripMs", "status"]);
    } finally {
      await stop(gateway);
    }
  });

  it("is 503 when the monitoring service cannot be reached", async () => {
    const { gateway, base } = await startGateway("127.0.0.1:1");
    try {
      const res = await fetch(`${base}/health/database`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: "UNKNOWN", reachable: false });
    } finally {
      await stop(gateway);
    }
  });
});

describe("GET /status", () => {
  it("needs an authenticated caller with the role GetSystemStatus needs (admin), like the RPC", async () => {
    const { gateway, base, events } = await startGateway(monitoringAddress);
    try {
      const anonymous = await fetch(`${base}/status`);
      expect(anonymous.status).toBe(401);
      expect(await anonymous.json()).toEqual({ code: "unauthenticated", message: "unauthenticated" });
      expect(events.total("authentication_failed")).toBe(1);

      for (const who of ["nobody@example.com", "reader@example.com"]) {
        const denied = await fetch(`${base}/status`, { headers: { [ACCESS_HEADER]: await tokenFor(who) } });
        expect(denied.status).toBe(403);
        expect(((await denied.json()) as { code: string }).code).toBe("permission_denied");
      }
      expect(events.total("permission_denied")).toBe(2);

      const admin = await fetch(`${base}/status`, {
        headers: { [ACCESS_HEADER]: await tokenFor("admin@example.com") },
      });
      expect(admin.status).toBe(200);
      const body = (await admin.json()) as { status?: Record<string, unknown> };
      expect(body.status?.databaseVersion).toMatch(/^\d+(\.\d+)?/);
      expect(Array.isArray(body.status?.migrations)).toBe(true);
      expect(body.status?.serverTime).toBeDefined();
    } finally {
      await stop(gateway);
    }
  });

  it("is 503 (no detail) when the monitoring service cannot be reached", async () => {
    const { gateway, base } = await startGateway("127.0.0.1:1");
    try {
      const res = await fetch(`${base}/status`, {
        headers: { [ACCESS_HEADER]: await tokenFor("admin@example.com") },
      });
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ code: "unavailable", message: "status unavailable" });
    } finally {
      await stop(gateway);
    }
  });
});
