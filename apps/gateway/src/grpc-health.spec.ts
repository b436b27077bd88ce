import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  Client,
  credentials,
  status as grpcStatus,
  Metadata,
  Server,
  ServerCredentials,
  type ServiceError,
} from "@grpc/grpc-js";
import {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { createLogger } from "@taskmaster/telemetry/logger";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthenticator } from "./authn.js";
import { createRoleResolver, roleMapSchema } from "./authz.js";
import { listenGateway } from "./gateway.test-util.js";
import { LIMIT_DEFAULTS } from "./gateway-config.js";
import { createSecurityEvents } from "./security-events.js";
import { createGatewayServer, type Gateway } from "./server.js";

const { SERVING, NOT_SERVING } = HealthCheckResponse_ServingStatus;
const logger = createLogger({ service: "test", level: "silent" });

/** A real gRPC server whose Health/Check answers `state.status`. */
async function upstream(state: {
  status: HealthCheckResponse_ServingStatus;
}): Promise<{ server: Server; address: string }> {
  const server = new Server();
  server.addService(
    {
      check: {
        path: "/grpc.health.v1.Health/Check",
        requestStream: false,
        responseStream: false,
        requestSerialize: (m: Uint8Array) => Buffer.from(m),
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (m: Uint8Array) => Buffer.from(m),
        responseDeserialize: (b: Buffer) => b,
      },
    },
    {
      check: (_call: unknown, callback: (e: null, r: Uint8Array) => void) =>
        callback(
          null,
          toBinary(HealthCheckResponseSchema, create(HealthCheckResponseSchema, { status: state.status })),
        ),
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return { server, address: `127.0.0.1:${port}` };
}

function check(
  address: string,
  service: string,
): Promise<{ code: number; status?: HealthCheckResponse_ServingStatus }> {
  const client = new Client(address, credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      "/grpc.health.v1.Health/Check",
      (m: Uint8Array) => Buffer.from(m),
      (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
      toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service })),
      new Metadata(),
      { deadline: Date.now() + 5_000 },
      (error: ServiceError | null, res?: { status: HealthCheckResponse_ServingStatus }) => {
        client.close();
        resolve(error ? { code: error.code } : { code: grpcStatus.OK, status: res?.status });
      },
    );
  });
}

/** The first message of Watch. */
function watchFirst(
  address: string,
  service: string,
): Promise<HealthCheckResponse_ServingStatus | undefined> {
  const client = new Client(address, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const call = client.makeServerStreamRequest(
      "/grpc.health.v1.Health/Watch",
      (m: Uint8Array) => Buffer.from(m),
      (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
      toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service })),
      new Metadata(),
      { deadline: Date.now() + 5_000 },
    );
    call.once("data", (res: { status: HealthCheckResponse_ServingStatus }) => {
      resolve(res.status);
      call.cancel();
      client.close();
    });
    call.once("error", (e: ServiceError) => {
      if (e.code !== grpcStatus.CANCELLED) reject(e);
    });
  });
}

describe("gateway answers grpc.health.v1.Health over native gRPC", () => {
  const task = { status: SERVING };
  const template = { status: SERVING };
  let upstreams: { server: Server; address: string }[] = [];
  let gateway: Gateway;
  let address: string;

  beforeAll(async () => {
    upstreams = [await upstream(task), await upstream(template)];
    gateway = createGatewayServer({
      logger,
      upstreams: [
        { service: TaskService, address: upstreams[0]?.address ?? "" },
        { service: TemplateService, address: upstreams[1]?.address ?? "" },
      ],
      maxTimeoutMs: 10_000,
      readMaxBytes: 64 * 1024,
      // Probes carry no credentials: with JWT authentication on, Health still answers.
      edge: {
        authenticator: createAuthenticator({
          mode: "jwt",
          bearer: {
            issuer: "https://issuer.invalid",
            jwksUrl: "https://127.0.0.1:1/jwks",
            audience: ["probe"],
          },
        }),
        resolveRoles: createRoleResolver(roleMapSchema.parse({})),
        events: createSecurityEvents({ logger }),
        limits: LIMIT_DEFAULTS.test,
      },
    });
    address = `127.0.0.1:${await listenGateway(gateway)}`;
  });
  afterAll(async () => {
    gateway?.closeAllConnections();
    await new Promise((resolve) => gateway?.server.close(resolve));
    gateway?.close();
    for (const u of upstreams) u.server.forceShutdown();
  });

  it("answers the overall status, each upstream's, and NOT_FOUND for others; Watch sends the status", async () => {
    expect(await check(address, "")).toEqual({ code: grpcStatus.OK, status: SERVING });
    expect(await check(address, TaskService.typeName)).toEqual({ code: grpcStatus.OK, status: SERVING });
    expect((await check(address, "no.such.Service")).code).toBe(grpcStatus.NOT_FOUND);
    expect(await watchFirst(address, "")).toBe(SERVING);

    template.status = NOT_SERVING;
    expect(await check(address, "")).toEqual({ code: grpcStatus.OK, status: NOT_SERVING });
    expect(await check(address, TaskService.typeName)).toEqual({ code: grpcStatus.OK, status: SERVING });
    expect(await check(address, TemplateService.typeName)).toEqual({
      code: grpcStatus.OK,
      status: NOT_SERVING,
    });

    // An upstream gone: NOT_SERVING, answered (not an error, not a hang).
    upstreams[0]?.server.forceShutdown();
    template.status = SERVING;
    expect(await check(address, TaskService.typeName)).toEqual({ code: grpcStatus.OK, status: NOT_SERVING });
    expect(await check(address, "")).toEqual({ code: grpcStatus.OK, status: NOT_SERVING });
  });
});
