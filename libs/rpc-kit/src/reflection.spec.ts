import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { credentials, loadPackageDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EchoService, memoryLogger } from "./echo-service.test-util.js";
import { createGrpcServer, type GrpcServer, partialServiceRegistration } from "./grpc-server.js";

// Test only: a reflection client from @grpc/reflection's own proto via proto-loader (grpcurl's point of view).
const require = createRequire(import.meta.url);
const protoDir = join(dirname(require.resolve("@grpc/reflection")), "../proto");

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}
type Stream = {
  write(m: object): void;
  end(): void;
  on(e: "data", l: (m: ReflectionResponse) => void): void;
  on(e: "error", l: (e: Error) => void): void;
};

function reflectionClient(version: "v1" | "v1alpha", address: string) {
  const def = loadSync(join(protoDir, `grpc/reflection/${version}/reflection.proto`), {
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = loadPackageDefinition(def) as unknown as {
    grpc: {
      reflection: Record<
        string,
        { ServerReflection: new (a: string, c: unknown) => { serverReflectionInfo(): Stream; close(): void } }
      >;
    };
  };
  const Ctor = pkg.grpc.reflection[version]?.ServerReflection;
  if (Ctor === undefined) throw new Error("no reflection client");
  const client = new Ctor(address, credentials.createInsecure());
  const ask = (req: object) =>
    new Promise<ReflectionResponse>((resolve, reject) => {
      const stream = client.serverReflectionInfo();
      stream.on("data", (m) => {
        resolve(m);
        stream.end();
      });
      stream.on("error", reject);
      stream.write(req);
    });
  return { ask, close: () => client.close() };
}

let server: GrpcServer;
let address: string;
beforeAll(async () => {
  server = createGrpcServer({
    logger: memoryLogger().logger,
    services: [partialServiceRegistration(EchoService, {})],
  });
  ({ address } = await server.listen("127.0.0.1", 0));
});
afterAll(async () => {
  await server.shutdown(500);
});

describe.each(["v1", "v1alpha"] as const)("server reflection %s", (version) => {
  it("lists the services", async () => {
    const c = reflectionClient(version, address);
    const res = await c.ask({ listServices: "*" });
    c.close();
    expect(res.listServicesResponse?.service.map((s) => s.name).sort()).toEqual([
      "grpc.health.v1.Health",
      "rpckit.test.v1.EchoService",
    ]);
  });

  it("returns the file containing a symbol, with its dependencies", async () => {
    const c = reflectionClient(version, address);
    const res = await c.ask({ fileContainingSymbol: "rpckit.test.v1.EchoService" });
    const methods = await c.ask({ fileContainingSymbol: "rpckit.test.v1.EchoResponse" });
    c.close();
    const files = (res.fileDescriptorResponse?.fileDescriptorProto ?? []).map((b) =>
      fromBinary(FileDescriptorProtoSchema, b),
    );
    const names = files.map((f) => f.name);
    expect(names).toContain("rpckit/test/v1/echo.proto");
    expect(names).toContain("google/protobuf/timestamp.proto");
    const echo = files.find((f) => f.name === "rpckit/test/v1/echo.proto");
    expect(echo?.service[0]?.method.map((m) => m.name)).toEqual([
      "Echo",
      "ServerStream",
      "ClientStream",
      "Bidi",
      "NotDone",
    ]);
    expect(echo?.service[0]?.method[3]).toMatchObject({ clientStreaming: true, serverStreaming: true });
    expect(methods.fileDescriptorResponse?.fileDescriptorProto.length).toBeGreaterThan(0);
  });

  it("answers NOT_FOUND for unknown symbols", async () => {
    const c = reflectionClient(version, address);
    const res = await c.ask({ fileContainingSymbol: "no.such.Thing" });
    c.close();
    expect(res.errorResponse?.errorCode).toBe(5);
  });
});
