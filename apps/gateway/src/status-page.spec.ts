/**
 * The `/status` page in a real browser (Debian's headless Chromium through playwright-core): a real gateway
 * with Cloudflare Access JWT authentication in front of a real monitoring service on a migrated database.
 * The browser signs in as Access does, with the `CF_Authorization` cookie; the page shows every section and
 * the server-drawn RPC chart; a browser without the cookie gets an HTML refusal. The screenshot is kept in
 * `apps/gateway/test-output/` (git-ignored).
 */
import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { MikroORM } from "@mikro-orm/postgresql";
import { createServer as createMonitoringServer } from "@taskmaster/monitoring-service/server";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createProcessMetrics } from "@taskmaster/telemetry/metrics";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCESS_COOKIE, ACCESS_HEADER, createAuthenticator } from "./authn.js";
import { createRoleResolver, roleMapSchema } from "./authz.js";
import { launchChromium } from "./chromium.test-util.js";
import { type JwksServer, type RsaKey, rsaKey, signToken, startJwksServer } from "./edge.test-util.js";
import { LIMIT_DEFAULTS } from "./gateway-config.js";
import { createSecurityEvents } from "./security-events.js";
import { createGatewayServer, type Gateway } from "./server.js";

const logger = createLogger({ service: "test", level: "silent" });
const TEAM = "https://status-page-team.cloudflareaccess.com";
const AUD = "aud-status-page-0123456789";
const OUTPUT = join(import.meta.dirname, "..", "test-output");

let db: TestDatabase;
let orm: MikroORM;
let monitoring: GrpcServer;
let jwks: JwksServer;
let key: RsaKey;
let base: string;
let browser: Browser;
let monitoringAddress: string;
const gateways: Gateway[] = [];

async function startGateway(
  address: string,
  authenticator: ReturnType<typeof createAuthenticator>,
): Promise<{ base: string }> {
  const started = createGatewayServer({
    logger,
    metrics: createProcessMetrics({ defaultMetrics: false }),
    upstreams: [{ service: MonitoringService, address }],
    maxTimeoutMs: 5_000,
    readMaxBytes: 64 * 1024,
    edge: {
      authenticator,
      resolveRoles: createRoleResolver(roleMapSchema.parse({ emails: { "admin@example.com": ["admin"] } })),
      events: createSecurityEvents({ logger }),
      limits: LIMIT_DEFAULTS.test,
    },
  });
  gateways.push(started);
  await new Promise<void>((resolve) => started.server.listen(0, "127.0.0.1", resolve));
  return { base: `http://127.0.0.1:${(started.server.address() as AddressInfo).port}` };
}

beforeAll(async () => {
  // Chromium first: a machine without it fails here, loudly, before anything else starts.
  browser = await launchChromium();
  db = await createTestDatabase();
  orm = (await initOrm({ url: db.monitorUrl, pool: { min: 0, max: 4 } })) as MikroORM;
  monitoring = createMonitoringServer({
    orm,
    logger,
    monitoring: { serviceAddresses: {}, healthIntervalMs: 60_000, alerting: { manual: true } },
  });
  const address = `127.0.0.1:${(await monitoring.listen("127.0.0.1", 0)).port}`;
  key = await rsaKey("status-page-key");
  jwks = await startJwksServer([key.jwk]);
  ({ base } = await startGateway(
    address,
    createAuthenticator({
      mode: "jwt",
      access: { issuer: TEAM, jwksUrl: jwks.url, audience: [AUD] },
      jwksCooldownMs: 0,
    }),
  ));
  monitoringAddress = address;
}, 600_000);

afterAll(async () => {
  await browser?.close();
  for (const g of gateways) {
    g.closeAllConnections();
    await new Promise((resolve) => g.server.close(resolve));
    g.close();
  }
  await monitoring?.shutdown(1_000);
  await orm?.close(true);
  await jwks?.close();
  await db?.drop();
});

const adminToken = () =>
  signToken({ key, issuer: TEAM, audience: AUD, claims: { email: "admin@example.com" } });

describe("GET /status in a browser", () => {
  it("shows services, database, pools, slow queries, alerts and the RPC chart to an admin signed in by Access", async () => {
    const token = await adminToken();
    // Some RPC traffic through the gateway, then a first sample, so the chart has a point with calls.
    const first = await fetch(`${base}/status`, { headers: { [ACCESS_HEADER]: token, accept: "text/html" } });
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("text/html; charset=utf-8");
    await first.text();
    for (let i = 0; i < 3; i++) {
      const rpc = await fetch(`${base}/${MonitoringService.typeName}/GetHealth`, {
        method: "POST",
        headers: { [ACCESS_HEADER]: token, "content-type": "application/json" },
        body: "{}",
      });
      expect(rpc.status).toBe(200);
    }
    // Machines still get JSON.
    const json = await fetch(`${base}/status`, {
      headers: { [ACCESS_HEADER]: token, accept: "application/json" },
    });
    expect(json.headers.get("content-type")).toBe("application/json");
    expect(((await json.json()) as { status?: { profile?: string } }).status).toBeDefined();

    const context = await browser.newContext({ viewport: { width: 1000, height: 1200 } });
    try {
      await context.addCookies([{ name: ACCESS_COOKIE, value: token, url: base }]);
      const page = await context.newPage();
      const response = await page.goto(`${base}/status`);
      expect(response?.status()).toBe(200);
      expect(await page.title()).toBe("Taskmaster status");
      for (const id of ["services", "database", "pool", "slow-queries", "alerts", "rpc-chart"]) {
        const section = page.locator(`section#${id}`);
        expect(await section.count(), id).toBe(1);
        const missing = await section
          .locator(".unavailable")
          .textContent({ timeout: 1 })
          .catch(() => null);
        // Slow queries need pg_stat_statements preloaded (embedded PostgreSQL has it; a plain server may not).
        if (id === "slow-queries" && missing !== null) expect(missing).toMatch(/pg_stat_statements/);
        else expect(missing, id).toBeNull();
      }
      expect(await page.locator("#database td").first().textContent()).toBe("SERVING");
      expect(await page.locator("#services tbody tr").count()).toBeGreaterThan(0);
      expect(await page.locator("#rpc-svg polyline.rate").count()).toBe(1);
      expect(await page.locator("#rpc-svg polyline.latency").count()).toBe(1);
      expect(await page.locator("#rpc-chart .legend").textContent()).toMatch(/rate now \d+\.\d+\/s/);
      mkdirSync(OUTPUT, { recursive: true });
      await page.screenshot({ path: join(OUTPUT, "status-page.png"), fullPage: true });
    } finally {
      await context.close();
    }
  });

  it("refuses a browser without the Access cookie with a small HTML page", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const response = await page.goto(`${base}/status`);
      expect(response?.status()).toBe(401);
      expect(await page.locator("#refusal").textContent()).toBe("unauthenticated: unauthenticated");
    } finally {
      await context.close();
    }
  });

  it("opens without credentials in development, where the developer is admin (GATEWAY_AUTH=none)", async () => {
    const dev = await startGateway(monitoringAddress, createAuthenticator({ mode: "none" }));
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const response = await page.goto(`${dev.base}/status`);
      expect(response?.status()).toBe(200);
      expect(await page.locator("section#services tbody tr").count()).toBeGreaterThan(0);
      expect(await page.locator("section#rpc-chart").count()).toBe(1);
    } finally {
      await context.close();
    }
  });
});
