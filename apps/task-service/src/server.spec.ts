/**
 * The task service's server as deployed: health, reflection, deadlines and unimplemented RPCs, over a real
 * socket against a real PostgreSQL.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { credentials, Client as GrpcClient } from "@grpc/grpc-js";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { Health, HealthCheckResponse_ServingStatus } from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestDatabase, TEST_APP_USER, type TestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "./server.js";

let db: TestDatabase;
let orm: MikroORM;
let server: GrpcServer;
let port: number;

const transport = () => createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` });

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await initOrm({ url: db.appUrl, pool: { min: 0, max: 4 } });
  server = createServer({ orm, logger: createLogger({ service: "task-service-test", level: "silent" }) });
  ({ port } = await server.listen("127.0.0.1", 0));
});

afterAll(async () => {
  await server?.shutdown(1_000);
  await orm?.close(true);
  await db?.drop();
});

async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectError);
    return error as ConnectError;
  }
  throw new Error("the call should have failed");
}

describe("task service server", () => {
  it("runs as the least-privilege application login, not the database owner (issue 8)", async () => {
    const [row] = await orm.em
      .getConnection()
      .execute<{ user: string; owner: boolean }[]>(
        "select current_user as user, pg_has_role((select relowner from pg_class where relname = 'tasks'), 'MEMBER') as owner",
      );
    expect(row).toEqual({ user: TEST_APP_USER, owner: false });
  });

  it("reports TaskService SERVING on grpc.health.v1", async () => {
    const health = createClient(Health, transport());
    const res = await health.check({ service: TaskService.typeName });
    expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const overall = await health.check({ service: "" });
    expect(overall.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const unknown = await failure(health.check({ service: "no.such.Service" }));
    expect(Code[unknown.code]).toBe(Code[Code.NotFound]);
  });

  it("fails a call whose deadline is too short with DEADLINE_EXCEEDED and stays healthy", async () => {
    const client = createClient(TaskService, transport());
    const error = await failure(client.listTasks({ pageSize: 1000 }, { timeoutMs: 1 }));
    expect(Code[error.code]).toBe(Code[Code.DeadlineExceeded]);
    const created = await client.createTask({ task: { title: "After the deadline" } });
    expect((await client.getTask({ name: created.task?.name ?? "" })).task?.title).toBe("After the deadline");
    const health = await createClient(Health, transport()).check({ service: TaskService.typeName });
    expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it("answers calls to a service it does not serve with UNIMPLEMENTED", async () => {
    const client = createClient(TemplateService, transport());
    const error = await failure(client.listTemplates({}));
    expect(Code[error.code]).toBe(Code[Code.Unimplemented]);
  });

  it("lists TaskService through server reflection", async () => {
    // grpc.reflection.v1alpha.ServerReflectionRequest{ list_services: "*" } (field 7), hand-encoded.
    const request = Buffer.from([0x3a, 0x01, 0x2a]);
    const grpc = new GrpcClient(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const body = await new Promise<Buffer>((resolve, reject) => {
        const call = grpc.makeBidiStreamRequest(
          "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
          (b: Buffer) => b,
          (b: Buffer) => b,
        );
        call.on("data", (data: Buffer) => {
          resolve(data);
          call.end();
        });
        call.on("error", reject);
        call.write(request);
      });
      // The response carries the service names as plain protobuf strings.
      expect(body.toString("utf8")).toContain(TaskService.typeName);
      expect(body.toString("utf8")).toContain("grpc.health.v1.Health");
    } finally {
      grpc.close();
    }
  });
});
