/**
 * The fuzz fault on the fault stack: every RPC straight to the service that serves it and through the
 * gateway in its three protocols (fuzz.ts), then every process must still run and answer its health check
 * (gRPC health of each service and of the gateway's port, the gateway's HTTP /health).
 */
import { readFileSync } from "node:fs";
import { AuditService } from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_service_pb";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import {
  createIdentitySigner,
  IDENTITY_HEADER,
  importIdentitySigningKey,
} from "@taskmaster/rpc-kit/identity";
import { PUBLIC_SERVICES } from "@taskmaster/testing/descriptor-walker";
import type { FaultStack } from "./fault-stack.js";
import { type FuzzResult, type FuzzTarget, runFuzz } from "./fuzz.js";
import { grpcHealthCheck, httpHealthCheck } from "./readiness.js";

const SERVED = [
  { member: TaskService.typeName, services: [TaskService] },
  { member: TemplateService.typeName, services: [TemplateService] },
  { member: MonitoringService.typeName, services: [MonitoringService, AuditService] },
];

export interface FuzzFaultResult {
  readonly results: readonly FuzzResult[];
  /** Every process running and healthy after the fuzzing. */
  readonly healthy: boolean;
  readonly unhealthy: readonly string[];
  /** Wall time of the fuzzing and the checks after it (printed, not judged). */
  readonly elapsedMs: number;
}

export async function runFuzzFault(
  s: FaultStack,
  options: { casesPerRpc?: number | undefined; seed?: number | undefined },
): Promise<FuzzFaultResult> {
  const started = Date.now();
  // Straight to a service as the gateway calls it: with a signed identity (an admin), so the requests reach
  // the request check and the handlers rather than stopping at authentication.
  const signer = createIdentitySigner(
    await importIdentitySigningKey(readFileSync(s.identityKeyFile, "utf8")),
    {
      ttlSeconds: 3_600,
    },
  );
  const identity = { subject: "fuzz@taskmaster.test", type: "user" as const, roles: ["admin"], teams: [] };
  const headers = new Map<string, Record<string, string>>();
  for (const service of PUBLIC_SERVICES)
    headers.set(service.typeName, { [IDENTITY_HEADER]: await signer.sign(identity, service.typeName) });
  const direct: FuzzTarget[] = SERVED.map(({ member, services }) => ({
    name: `${member.split(".").at(-1)} direct`,
    protocol: "grpc",
    url: `http://${s.addresses.get(member)}`,
    services,
    headers,
  }));
  const gateway = (protocol: FuzzTarget["protocol"]): FuzzTarget => ({
    name: "gateway",
    protocol,
    url: `http://${s.gateway}`,
    services: PUBLIC_SERVICES,
  });
  const results = await runFuzz({
    targets: [...direct, gateway("grpc"), gateway("grpc-web"), gateway("connect-json")],
    casesPerRpc: options.casesPerRpc,
    seed: options.seed,
  });
  const unhealthy: string[] = [];
  for (const { member } of SERVED) {
    const address = s.addresses.get(member) ?? "";
    if (!(await grpcHealthCheck(address, member, 3_000))) unhealthy.push(`${member} gRPC health`);
  }
  if (!(await grpcHealthCheck(s.gateway, "", 3_000))) unhealthy.push("gateway gRPC health");
  if (!(await httpHealthCheck(`http://${s.gateway}/health`, 3_000))) unhealthy.push("gateway /health");
  if (!s.allAlive()) unhealthy.push("a process is down");
  return { results, healthy: unhealthy.length === 0, unhealthy, elapsedMs: Date.now() - started };
}
