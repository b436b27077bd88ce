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
 *   Browsers (`Accept: text/html` before any JSON) get the same document as a page (status-page.ts), with
 *   the database check, pool use, slow queries and recent alerts asked with the same identity, and the
 *   gateway's recent RPC rate and latency (rpc-history.ts); a refusal is then a short HTML page.
 */
import { toJson } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { maskSecrets } from "@taskmaster/config/mask";
import { HealthStatus } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/health_pb";
import {
  type GetDatabaseHealthResponse,
  GetPoolStatsResponseSchema,
  GetSystemStatusResponseSchema,
  ListAlertsResponseSchema,
  ListSlowQueriesResponseSchema,
  MonitoringService,
} from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import type { IdentitySigner } from "@taskmaster/rpc-kit/identity";
import type { ClientInfo, EdgeChecks } from "./edge.js";
import { requestHeaders } from "./fast-path.js";
import { upstreamHeaders } from "./forward.js";
import { type AnyRequest, type AnyResponse, asResponse } from "./listener.js";
import type { RpcHistory } from "./rpc-history.js";
import { htmlText, renderStatusPage } from "./status-page.js";

export interface StatusEndpointsOptions {
  /** The monitoring service; absent: both endpoints answer 503. */
  readonly monitoring: Client<typeof MonitoringService> | undefined;
  readonly edge: EdgeChecks;
  readonly clientInfo: (req: AnyRequest) => ClientInfo;
  readonly signer?: IdentitySigner | undefined;
  /** Bound on each upstream call (default 3 s). */
  readonly timeoutMs?: number | undefined;
  /** The gateway's recent RPC rate and latency, charted on the HTML page. */
  readonly rpcHistory?: RpcHistory | undefined;
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

function send(res: AnyResponse, status: number, body: unknown, html?: string): void {
  const r = asResponse(res);
  if (r.headersSent || r.writableEnded) return;
  const type = html === undefined ? "application/json" : "text/html; charset=utf-8";
  r.writeHead(status, { "content-type": type, "cache-control": "no-store", vary: "accept" }).end(
    html ?? JSON.stringify(body),
  );
}

/** True when the client ranks HTML before JSON (browsers), false for machines and `Accept: * / *`. */
export function wantsHtml(accept: string | undefined): boolean {
  const a = (accept ?? "").toLowerCase();
  const html = a.indexOf("text/html");
  const json = a.indexOf("application/json");
  return html >= 0 && (json < 0 || html < json);
}

const refusalPage = (status: number, body: { code: string; message: string }) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Taskmaster status: ${status}</title></head><body><h1>${status}</h1><p id="refusal">${htmlText(body.code)}: ${htmlText(body.message)}</p></body></html>`;

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
    const html = wantsHtml(header.get("accept") ?? undefined);
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
      const document = maskSecrets(toJson(GetSystemStatusResponseSchema, answer)) as Record<string, unknown>;
      if (!html) return send(res, 200, document);
      const monitoring = o.monitoring;
      const options = {
        headers: await upstreamHeaders(service, header, admission.caller, o.signer, client),
        timeoutMs,
        signal: aborted.signal,
      };
      const unavailable: Record<string, string> = {};
      const settle = <T>(section: string, p: Promise<T>) =>
        p
          .then((v) => maskSecrets(v) as T)
          .catch((err: unknown) => {
            unavailable[section] = String(maskSecrets(ConnectError.from(err).rawMessage));
            return undefined;
          });
      const [database, pools, slowQueries, alerts] = await Promise.all([
        settle(
          "database",
          monitoring.getDatabaseHealth({}, options).then((r) => databaseHealthBody(r)),
        ),
        settle(
          "pool",
          monitoring.getPoolStats({}, options).then((r) => toJson(GetPoolStatsResponseSchema, r)),
        ),
        settle(
          "slow-queries",
          monitoring
            .listSlowQueries({ pageSize: 5 }, options)
            .then((r) => toJson(ListSlowQueriesResponseSchema, r)),
        ),
        settle(
          "alerts",
          monitoring
            .listAlerts({ pageSize: 10, orderBy: "fire_time desc" }, options)
            .then((r) => toJson(ListAlertsResponseSchema, r)),
        ),
      ]);
      await o.rpcHistory?.sample();
      const page = renderStatusPage({
        status: document,
        database,
        pools: pools as Record<string, unknown> | undefined,
        slowQueries: slowQueries as Record<string, unknown> | undefined,
        alerts: alerts as Record<string, unknown> | undefined,
        rpc: o.rpcHistory?.points() ?? [],
        unavailable,
      });
      send(res, 200, undefined, page);
    } catch (err) {
      const e = ConnectError.from(err);
      const code = HTTP_STATUS[e.code];
      const body =
        code === undefined
          ? { code: "unavailable", message: "status unavailable" }
          : { code: snakeCode(e.code), message: e.rawMessage };
      send(res, code ?? 503, body, html ? refusalPage(code ?? 503, body) : undefined);
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
