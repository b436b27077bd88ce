import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { Health, HealthCheckResponse_ServingStatus } from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACTOR_HEADER, ADMIN_ROLE, ROLES_HEADER } from "./authorization.js";
import { clientWithHeaders } from "./harness.test-util.js";
import { createServer } from "./server.js";

// The template service starts, reports health tied to its database, implements every RPC of its contract
// and puts every one of them behind the authorization interceptor.
describe("template-service over a real socket", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let orm: MikroORM;
  let server: GrpcServer;
  let baseUrl: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = (await initOrm({ url: db.appUrl, pool: { min: 0, max: 2 } })) as MikroORM;
    server = createServer({ orm, logger: createLogger({ service: "test", level: "silent" }) });
    const { port } = await server.listen("127.0.0.1", 0);
    baseUrl = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await server?.shutdown(1_000);
    await orm?.close();
    await db?.drop();
  });

  it("reports SERVING for TemplateService while its database answers", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl }));
    const res = await health.check({ service: TemplateService.typeName });
    expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  // Every RPC of the service descriptor is implemented: an authorized caller (platform admin, so role-gated
  // RPCs pass too) sending an empty request gets some answer (typically INVALID_ARGUMENT) but never
  // UNIMPLEMENTED, so an RPC added to the contract and forgotten here fails this test.
  const admin = () =>
    clientWithHeaders(baseUrl, { [ACTOR_HEADER]: "alice", [ROLES_HEADER]: ADMIN_ROLE }) as unknown as Record<
      string,
      (req: object) => Promise<unknown>
    >;

  it("serves only unary RPCs (the cases below cover every method)", () => {
    expect(TemplateService.methods.length).toBeGreaterThan(0);
    expect(TemplateService.methods.filter((m) => m.methodKind !== "unary").map((m) => m.name)).toEqual([]);
  });

  it.each(TemplateService.methods.map((m) => [m.name, m.localName]))(
    "%s is implemented (an authorized call never answers UNIMPLEMENTED)",
    async (_name, localName) => {
      const call = admin()[localName];
      expect(call).toBeTypeOf("function");
      let code: Code | undefined;
      try {
        await call?.({});
      } catch (e) {
        code = ConnectError.from(e).code;
      }
      expect(code).not.toBe(Code.Unimplemented);
    },
  );

  it.each(TemplateService.methods.map((m) => [m.name, m.localName]))(
    "%s refuses a caller without identity (UNAUTHENTICATED)",
    async (_name, localName) => {
      const client = createClient(TemplateService, createGrpcTransport({ baseUrl })) as unknown as Record<
        string,
        (req: object) => Promise<unknown>
      >;
      await expect(client[localName]?.({})).rejects.toSatisfy(
        (e) => ConnectError.from(e).code === Code.Unauthenticated,
      );
    },
  );
});
