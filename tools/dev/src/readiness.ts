import { request } from "node:http";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "@taskmaster/proto/gen/grpc/health/v1/health_pb";

/** One gRPC health check with a deadline; resolves true only for SERVING. */
export function grpcHealthCheck(address: string, service: string, timeoutMs: number): Promise<boolean> {
  const client = new Client(address, credentials.createInsecure());
  return new Promise<boolean>((resolve) => {
    client.makeUnaryRequest(
      "/grpc.health.v1.Health/Check",
      (message: Uint8Array) => Buffer.from(message),
      (bytes: Buffer) => fromBinary(HealthCheckResponseSchema, bytes),
      toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service })),
      new Metadata(),
      { deadline: Date.now() + timeoutMs },
      (error: ServiceError | null, response?: { status: HealthCheckResponse_ServingStatus }) => {
        client.close();
        if (error && error.code !== status.OK) resolve(false);
        else resolve(response?.status === HealthCheckResponse_ServingStatus.SERVING);
      },
    );
  });
}

/** GET `url`; resolves true on a 2xx answer. */
export function httpHealthCheck(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 300);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/** Polls `probe` until it answers true, the deadline passes, or `abort` fires. */
export async function waitUntil(
  probe: () => Promise<boolean>,
  deadlineMs: number,
  abort: AbortSignal,
): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  let delay = 50;
  while (Date.now() < end && !abort.aborted) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
  return false;
}
