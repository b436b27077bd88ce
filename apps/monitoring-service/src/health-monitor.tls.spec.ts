/**
 * The health monitor's channels to the services over TLS / mTLS (the process's GRPC_CLIENT_TLS_* settings
 * as `channel`), against a real grpc-js server that serves mTLS and REQUIRES an identity token: the
 * grpc.health.v1 probe carries no identity and must still pass, while the same server refuses other RPCs
 * without one. Certificates and keys are generated here.
 */
import { generateKeyPairSync } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { HealthStatus } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/health_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { createGrpcJsTransport } from "@taskmaster/rpc-kit/grpc-client";
import {
  createGrpcServer,
  type GrpcServer,
  partialServiceRegistration,
} from "@taskmaster/rpc-kit/grpc-server";
import { importIdentityVerifyKey } from "@taskmaster/rpc-kit/identity";
import { type ClientTlsSettings, outboundChannel } from "@taskmaster/rpc-kit/outbound";
import { serverCredentials } from "@taskmaster/rpc-kit/tls";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestCertificates, type TestCertificates } from "@taskmaster/testing/test-certs";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthMonitor } from "./health-monitor.js";

let db: TestDatabase;
let orm: MikroORM;
let certs: TestCertificates;
let server: GrpcServer;
let address: string;
const monitors: HealthMonitor[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  orm = (await initOrm({ url: db.url, pool: { min: 0, max: 2 } })) as MikroORM;
  certs = await createTestCertificates();
  const gateway = generateKeyPairSync("ed25519", {
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  server = createGrpcServer({
    logger: createLogger({ service: "health-tls-test", level: "silent" }),
    // TaskService with no handlers: health registers it SERVING; its RPCs need an identity first.
    services: [partialServiceRegistration(TaskService, {})],
    credentials: serverCredentials({
      cert: certs.server.cert,
      key: certs.server.key,
      clientCa: certs.ca.cert,
    }),
    identity: { key: await importIdentityVerifyKey(gateway.publicKey), required: true },
  });
  address = (await server.listen("127.0.0.1", 0)).address;
});

afterAll(async () => {
  for (const m of monitors) m.stop();
  await server?.shutdown(1_000);
  await orm?.close(true);
  await db?.drop();
});

/** One round of a monitor with these client TLS settings; the TaskService component after it. */
async function probe(tls: ClientTlsSettings | undefined) {
  const monitor = new HealthMonitor({
    orm,
    services: { [TaskService.typeName]: address },
    checkTimeoutMs: 5_000,
    ...(tls !== undefined && { channel: outboundChannel(tls) }),
  });
  monitors.push(monitor);
  const snapshot = await monitor.check();
  return snapshot.components.find((c) => c.component === TaskService.typeName);
}

describe("health monitor channels over mTLS to an identity-requiring service", () => {
  it("probes over mTLS with the client certificate (no identity token needed for grpc.health.v1)", async () => {
    const state = await probe({
      ca: certs.ca.cert,
      cert: certs.client.cert,
      key: certs.client.key,
      serverName: "localhost",
    });
    expect(state?.message).toBe("ok");
    expect(state?.status).toBe(HealthStatus.SERVING);
  });

  it("the same server refuses a non-health RPC without identity", async () => {
    const transport = createGrpcJsTransport({
      address,
      ...outboundChannel({
        ca: certs.ca.cert,
        cert: certs.client.cert,
        key: certs.client.key,
        serverName: "localhost",
      }),
      defaultTimeoutMs: 5_000,
    });
    const error = await createClient(TaskService, transport)
      .listTasks({ pageSize: 1 })
      .catch((e: unknown) => ConnectError.from(e));
    transport.close();
    expect((error as ConnectError).code).toBe(Code.Unauthenticated);
  });

  it("plaintext, TLS without a client certificate, and a foreign CA are NOT_SERVING", async () => {
    for (const tls of [
      undefined,
      { ca: certs.ca.cert, serverName: "localhost" },
      { ca: certs.otherCa.cert, cert: certs.client.cert, key: certs.client.key, serverName: "localhost" },
    ]) {
      const state = await probe(tls);
      expect(state?.status).toBe(HealthStatus.NOT_SERVING);
      expect(state?.message).toMatch(/^Unavailable/);
    }
  });
});
