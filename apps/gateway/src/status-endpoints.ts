/**
 * The seed's `/health/database` and `/status` at the gateway, answered by the monitoring service over the same
 * grpc-js channel as its RPCs:
 * - `GET /health/database` -> MonitoringService.GetDatabaseHealth. Public like `/health` (load balancers,
 *   tunnel checks), so it says little: status, reachable, round-trip milliseconds, check time. 200 when the
 *   database is SERVING or DEGRADED, 503 otherwise (also when the monitoring service cannot be asked). The
 *   gateway asks as itself: a signed service identity `gateway` with the reader role.
 * - `GET /status` -> MonitoringService.GetSystemStatus, the detailed document (services, migrations, masked
 *   configuration, versions). Admitted by the edge checks exactly as that RPC would be (authentication, roles,
 *   rate and concurrency limits, security events) and forwarded with the caller's identity; the body goes
 *   through the masking policy once more. Refusals are JSON `{code, message}` with 401/403/429.
 */
import { toJson } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { maskSecrets } from "@taskmaster/config/mask";
import { HealthStatus } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/health_pb";
import {
  type GetDatabaseHealthResponse,
  GetSystemStatusResponseSchema,
  MonitoringService,
} from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import type { IdentitySigner } from "@taskmaster/rpc-kit/identity";
import type { ClientInfo, EdgeChecks } from "./edge.js";
import { requestHeaders } from "./fast-path.js";
import { upstreamHeaders } from "./forward.js";
import { type AnyRequest, type AnyResponse, asResponse } from "./listener.js";

export interface StatusEndpointsOptions {
  /** The monitoring service; absent: both endpoints answer 503. */
  readonly monitoring: Client<typeof MonitoringService> | undefined;
  readonly edge: EdgeChecks;
  readonly clientInfo: (req: AnyRequest) => ClientInfo;
  readonly signer?: IdentitySigner | undefined;
  /** Bound on each upstream call (default 3 s). */
  readonly timeoutMs?: number | undefined;
}

/** The gateway's own identity for the public database check. */
const GATEWAY_IDENTITY = { subject: "gateway", type: "service", roles: ["reader"], teams: [] } as const;

const HTTP_STATUS: Partial<Record<Code, number>> = {
  [Code.Unauthenticated]: 401,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.DeadlineExceeded]: 504,
};

/** `Code.PermissionDenied` -> "permission_denied", as the Connect protocol writes codes. */
const snakeCode = (code: Code) =>
  (Code[code] ?? "unknown").replace(/[A-Z]/g, (c, i) => `${i > 0 ? "_" : ""}${c.toLowerCase()}`);

function send(res: AnyResponse, status: number, body: unknown): void {
  const r = asResponse(res);
  if (r.headersSent || r.writableEnded) return;
  r.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" }).end(
    JSON.stringify(body),
  );
}

/** `/health/database` body from the monitoring service's answer. */
export function databaseHealthBody(res: GetDatabaseHealthResponse): {
  status: string;
  reachable: boolean;
  roundTripMs?: number;
  checkTime?: string;
} {
  const db = res.database;
  const status = db === undefined ? HealthStatus.UNKNOWN : db.status;
  const latency = db?.roundTripLatency;
  return {
    status: (HealthStatus[status] ?? "UNKNOWN").toString(),
    reachable: db?.reachable ?? false,
    ...(latency !== undefined && {
      roundTripMs: Number(latency.seconds) * 1000 + Math.round(latency.nanos / 1e4) / 100,
    }),
    ...(db?.checkTime !== undefined && {
      checkTime: new Date(Number(db.checkTime.seconds) * 1000 + db.checkTime.nanos / 1e6).toISOString(),
    }),
  };
}

/** Handles `GET /health/database` and `GET /status`; returns false for any other request. */
export function createStatusEndpoints(
  o: StatusEndpointsOptions,
): (req: AnyRequest, res: AnyResponse) => boolean {
  const timeoutMs = o.timeoutMs ?? 3_000;
  const service = MonitoringService.typeName;

  async function databaseHealth(res: AnyResponse): Promise<void> {
    if (o.monitoring === undefined) return send(res, 503, { status: "UNKNOWN", reachable: false });
    try {
      const headers = new Headers();
      if (o.signer !== undefined) {
        headers.set("x-taskmaster-identity", await o.signer.sign(GATEWAY_IDENTITY, service));
      }
      const answer = await o.monitoring.getDatabaseHealth({}, { headers, timeoutMs });
      const body = databaseHealthBody(answer);
      send(res, body.status === "SERVING" || body.status === "DEGRADED" ? 200 : 503, body);
    } catch {
      send(res, 503, { status: "UNKNOWN", reachable: false, error: "monitoring service unavailable" });
    }
  }

  async function status(req: AnyRequest, res: AnyResponse): Promise<void> {
    const aborted = new AbortController();
    res.once("close", () => aborted.abort());
    const header = requestHeaders(req);
    let release: (() => void) | undefined;
    const client = o.clientInfo(req);
    try {
      const admission = await o.edge.admit({
        client,
        method: MonitoringService.method.getSystemStatus,
        header,
        signal: aborted.signal,
      });
      release = admission.release;
      if (o.monitoring === undefined)
        throw new ConnectError("monitoring service not configured", Code.Unavailable);
      const answer = await o.monitoring.getSystemStatus(
        {},
        {
          headers: await upstreamHeaders(service, header, admission.caller, o.signer, client),
          timeoutMs,
          signal: aborted.signal,
        },
      );
      send(res, 200, maskSecrets(toJson(GetSystemStatusResponseSchema, answer)));
    } catch (err) {
      const e = ConnectError.from(err);
      const code = HTTP_STATUS[e.code];
      send(
        res,
        code ?? 503,
        code === undefined
          ? { code: "unavailable", message: "status unavailable" }
          : { code: snakeCode(e.code), message: e.rawMessage },
      );
    } finally {
      release?.();
    }
  }

  return (req, res) => {
    if (req.method !== "GET") return false;
    const path = (req.url ?? "").split("?")[0];
    if (path === "/health/database") {
      void databaseHealth(res);
      return true;
    }
    if (path === "/status") {
      void status(req, res);
      return true;
    }
    return false;
  };
}
