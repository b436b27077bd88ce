import { Code, ConnectError } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as S,
} from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EchoService, failure, memoryLogger, waitFor } from "./echo-service.test-util.js";
import { createGrpcClient } from "./grpc-client.js";
import { createGrpcServer, type GrpcServer, partialServiceRegistration } from "./grpc-server.js";
import { HealthRegistry } from "./health.js";

let server: GrpcServer;
let address: string;
let dbUp = true;
const registry = new HealthRegistry({ cacheMs: 0, checkTimeoutMs: 200 });
registry.addCheck("taskmaster.db", "ping", async () => dbUp);

beforeAll(async () => {
  server = createGrpcServer({
    logger: memoryLogger().logger,
    services: [partialServiceRegistration(EchoService, {})],
    health: registry,
  });
  ({ address } = await server.listen("127.0.0.1", 0));
});
afterAll(async () => {
  await server.shutdown(500);
});

describe("grpc.health.v1.Health", () => {
  it("Check: overall, per service, unknown -> NOT_FOUND", async () => {
    const client = createGrpcClient(Health, { address });
    expect((await client.check({ service: "" })).status).toBe(S.SERVING);
    expect((await client.check({ service: "rpckit.test.v1.EchoService" })).status).toBe(S.SERVING);
    const err = await failure(client.check({ service: "nope" }));
    expect(err.code).toBe(Code.NotFound);
  });

  it("Check reflects a failing dependency probe (and a hanging one)", async () => {
    const client = createGrpcClient(Health, { address });
    dbUp = false;
    expect((await client.check({ service: "taskmaster.db" })).status).toBe(S.NOT_SERVING);
    expect((await client.check({ service: "" })).status).toBe(S.NOT_SERVING);
    dbUp = true;
    expect((await client.check({ service: "" })).status).toBe(S.SERVING);
    const hanging = new HealthRegistry({ checkTimeoutMs: 50 });
    hanging.addCheck("x", "hang", () => new Promise<boolean>(() => {}));
    expect(await hanging.evaluate("x")).toBe(S.NOT_SERVING);
  });

  it("List returns every registered service", async () => {
    const client = createGrpcClient(Health, { address });
    const res = await client.list({});
    expect(Object.keys(res.statuses).sort()).toEqual(["", "rpckit.test.v1.EchoService", "taskmaster.db"]);
  });

  it("Watch streams changes until cancelled; unknown services report SERVICE_UNKNOWN", async () => {
    const client = createGrpcClient(Health, { address });
    const ac = new AbortController();
    const seen: S[] = [];
    const done = (async () => {
      for await (const r of client.watch({ service: "late.Service" }, { signal: ac.signal }))
        seen.push(r.status);
    })().catch((e: unknown) => ConnectError.from(e));
    await waitFor(() => seen.length === 1);
    expect(seen).toEqual([S.SERVICE_UNKNOWN]);
    registry.setStatus("late.Service", S.SERVING);
    await waitFor(() => seen.length === 2);
    registry.setStatus("late.Service", S.NOT_SERVING);
    await waitFor(() => seen.length === 3);
    expect(seen).toEqual([S.SERVICE_UNKNOWN, S.SERVING, S.NOT_SERVING]);
    ac.abort();
    expect((await done)?.code).toBe(Code.Canceled);
  });
});
