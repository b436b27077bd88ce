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
import { createServer } from "./server.js";

// Until issue 5 lands, the template service must still start, report health tied to its database and
// answer every RPC with a clean UNIMPLEMENTED (never a hang or INTERNAL).
describe("template-service skeleton over a real socket", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let orm: MikroORM;
  let server: GrpcServer;
  let baseUrl: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = (await initOrm({ url: db.url, pool: { min: 0, max: 2 } })) as MikroORM;
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

  // Implemented so far (covered by the *.handlers.spec.ts files); the rest still answer UNIMPLEMENTED.
  const implemented = new Set([
    "CreateTemplate",
    "GetTemplate",
    "ListTemplates",
    "UpdateTemplate",
    "DeleteTemplate",
    "UndeleteTemplate",
    "GetTemplateVersion",
    "ListTemplateVersions",
    "DiffTemplateVersions",
    "RollbackTemplate",
    "SearchTemplates",
    "CreateTemplateCategory",
    "GetTemplateCategory",
    "ListTemplateCategories",
    "UpdateTemplateCategory",
    "DeleteTemplateCategory",
    "MoveTemplateCategory",
    "ListTemplateCategorySubtree",
    "CreateTemplateType",
    "GetTemplateType",
    "ListTemplateTypes",
    "UpdateTemplateType",
    "DeleteTemplateType",
  ]);

  it.each(
    TemplateService.methods
      .filter((m) => m.methodKind === "unary" && !implemented.has(m.name))
      .map((m) => [m.name, m.localName]),
  )("%s answers UNIMPLEMENTED", async (_name, localName) => {
    const client = createClient(TemplateService, createGrpcTransport({ baseUrl })) as unknown as Record<
      string,
      (req: object) => Promise<unknown>
    >;
    const call = client[localName];
    await expect(call?.({})).rejects.toSatisfy((e) => ConnectError.from(e).code === Code.Unimplemented);
  });
});
