import { Health, HealthCheckResponse_ServingStatus } from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { createGrpcClient } from "@taskmaster/rpc-kit/grpc-client";

/** True when the server at `address` answers `grpc.health.v1.Health/Check` with SERVING. */
export async function grpcHealthCheck(address: string): Promise<boolean> {
  try {
    const res = await createGrpcClient(Health, { address }).check({}, { timeoutMs: 1_000 });
    return res.status === HealthCheckResponse_ServingStatus.SERVING;
  } catch {
    return false;
  }
}
