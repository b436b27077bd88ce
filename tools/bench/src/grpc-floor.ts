/**
 * What the floor servers share: a pg pool sized by POOL_MAX, and a bare grpc-js server whose unary methods
 * are built from a service's descriptors (binary protobuf in and out) and answered by plain async handlers.
 *
 * Env: DATABASE_URL, PORT (0 = any; the bound port is printed as `listening <port>`), POOL_MAX.
 */
import {
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  toBinary,
} from "@bufbuild/protobuf";
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData, status } from "@grpc/grpc-js";
import pg from "pg";

/** Answers one decoded request; a rejection with a `code` becomes that gRPC status (INTERNAL otherwise). */
export type Handler = (request: unknown) => Promise<unknown>;

/** The floor's database pool: DATABASE_URL, at most POOL_MAX (default 10) connections. */
export function floorPool(): pg.Pool {
  return new pg.Pool({
    connectionString: process.env.DATABASE_URL,
    max: Number(process.env.POOL_MAX ?? 10),
  });
}

/**
 * Serves the unary methods of `service` that have a handler on 127.0.0.1:PORT, prints `listening <port>`,
 * and on SIGTERM/SIGINT shuts down, ends `pool` and exits. `label` prefixes a bind error.
 */
export function serveFloor(
  label: string,
  service: DescService,
  handlers: Readonly<Record<string, Handler>>,
  pool: pg.Pool,
): void {
  const server = new Server();
  const definition: Record<string, unknown> = {};
  const implementation: Record<string, unknown> = {};
  for (const method of service.methods as readonly DescMethod[]) {
    const handler = handlers[method.name];
    if (!handler || method.methodKind !== "unary") continue;
    const input = method.input as DescMessage;
    const output = method.output as DescMessage;
    definition[method.name] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestDeserialize: (bytes: Buffer) => fromBinary(input, bytes),
      responseSerialize: (message: Parameters<typeof toBinary>[1]) => Buffer.from(toBinary(output, message)),
    };
    implementation[method.name] = (
      call: ServerUnaryCall<unknown, unknown>,
      callback: sendUnaryData<unknown>,
    ) => {
      handler(call.request).then(
        (response) => callback(null, response),
        (error: { code?: number; message: string }) =>
          callback({ code: error.code ?? status.INTERNAL, details: error.message }),
      );
    };
  }
  // biome-ignore lint/suspicious/noExplicitAny: grpc-js' ServiceDefinition generics do not fit a runtime-built table
  server.addService(definition as any, implementation as any);
  server.bindAsync(
    `127.0.0.1:${process.env.PORT ?? 0}`,
    ServerCredentials.createInsecure(),
    (error, port) => {
      if (error) {
        process.stderr.write(`${label}: ${error.message}\n`);
        process.exit(1);
      }
      process.stdout.write(`listening ${port}\n`);
    },
  );
  const stop = () => server.tryShutdown(() => void pool.end().then(() => process.exit(0)));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
