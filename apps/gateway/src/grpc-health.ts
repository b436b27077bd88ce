/**
 * `grpc.health.v1.Health` on the gateway's public port (native gRPC, Connect, gRPC-Web): what load balancers
 * and Kubernetes gRPC probes ask. The overall service (`""`) and the gateway itself (`gateway`) are SERVING
 * when every upstream answers SERVING to its own Check (within a deadline); an upstream's name gives that
 * upstream's status; any other name is NOT_FOUND. Watch sends the status, then each change (polled). List
 * answers every name. No authentication: probes carry none (server.ts lets these calls past the edge checks).
 */

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { checkUpstreams, type HealthTarget } from "./health-endpoint.js";

const { SERVING, NOT_SERVING, SERVICE_UNKNOWN } = HealthCheckResponse_ServingStatus;

export interface GrpcHealthOptions {
  readonly targets: readonly HealthTarget[];
  /** Deadline of each upstream Check (default 2 s). */
  readonly checkTimeoutMs?: number;
  /** How often Watch re-checks (default 2 s). */
  readonly watchIntervalMs?: number;
}

const OVERALL = new Set(["", "gateway"]);

export function registerGrpcHealth(router: ConnectRouter, options: GrpcHealthOptions): void {
  const timeoutMs = options.checkTimeoutMs ?? 2_000;
  const intervalMs = options.watchIntervalMs ?? 2_000;
  const statusOf = async (service: string): Promise<HealthCheckResponse_ServingStatus | undefined> => {
    if (OVERALL.has(service)) {
      return (await checkUpstreams(options.targets, timeoutMs)).status === "SERVING" ? SERVING : NOT_SERVING;
    }
    const target = options.targets.find((t) => t.name === service);
    if (target === undefined) return undefined;
    const report = await checkUpstreams([target], timeoutMs);
    return report.status === "SERVING" ? SERVING : NOT_SERVING;
  };
  router.service(Health, {
    async check(req) {
      const status = await statusOf(req.service);
      if (status === undefined)
        throw new ConnectError(`unknown service ${req.service.slice(0, 200)}`, Code.NotFound);
      return { status };
    },
    async *watch(req, context: HandlerContext) {
      let last: HealthCheckResponse_ServingStatus | undefined;
      while (!context.signal.aborted) {
        const status = (await statusOf(req.service)) ?? SERVICE_UNKNOWN;
        if (status !== last) {
          last = status;
          yield create(HealthCheckResponseSchema, { status });
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, intervalMs);
          context.signal.addEventListener("abort", () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    async list() {
      const report = await checkUpstreams(options.targets, timeoutMs);
      const overall = report.status === "SERVING" ? SERVING : NOT_SERVING;
      const statuses: Record<string, { status: HealthCheckResponse_ServingStatus }> = {
        "": { status: overall },
        gateway: { status: overall },
      };
      for (const [name, entry] of Object.entries(report.services)) {
        statuses[name] = { status: entry.status === "SERVING" ? SERVING : NOT_SERVING };
      }
      return { statuses };
    },
  });
}

/** Whether a call is to the health service (exempt from the edge's authentication and limits). */
export function isHealthCall(typeName: string): boolean {
  return typeName === Health.typeName;
}
