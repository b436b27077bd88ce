/**
 * The seed's `/health`: overall health from each upstream's `grpc.health.v1` Check (with a deadline), as JSON
 * a load balancer (200 / 503) and a person can both read.
 */
import type { Client } from "@connectrpc/connect";
import {
  type Health,
  HealthCheckResponse_ServingStatus,
} from "@taskmaster/proto/gen/grpc/health/v1/health_pb";

export interface HealthReport {
  status: "SERVING" | "NOT_SERVING";
  services: Record<string, { status: string; address: string; error?: string }>;
}

export interface HealthTarget {
  readonly name: string;
  readonly address: string;
  readonly client: Client<typeof Health>;
}

export async function checkUpstreams(
  targets: readonly HealthTarget[],
  timeoutMs: number,
): Promise<HealthReport> {
  const entries = await Promise.all(
    targets.map(async (t) => {
      try {
        const res = await t.client.check({ service: t.name }, { timeoutMs });
        return [
          t.name,
          { status: HealthCheckResponse_ServingStatus[res.status] ?? "UNKNOWN", address: t.address },
        ] as const;
      } catch (error) {
        return [
          t.name,
          { status: "NOT_SERVING", address: t.address, error: (error as Error).message.split("\n")[0] ?? "" },
        ] as const;
      }
    }),
  );
  const services = Object.fromEntries(entries);
  const ok = entries.every(([, e]) => e.status === "SERVING");
  return { status: ok ? "SERVING" : "NOT_SERVING", services };
}
