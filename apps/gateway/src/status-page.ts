/**
 * The `/status` page for browsers: one self-contained HTML document (no script, no external resources)
 * with the services, the database check, pool use, the slowest queries, recent alerts and an inline SVG
 * chart of the gateway's recent RPC rate and mean latency. Sections the monitoring service could not
 * answer say so instead of failing the page. Values come from the protobuf JSON forms (already masked).
 */
import type { RpcPoint } from "./rpc-history.js";

type Json = Record<string, unknown>;

export interface StatusPageInput {
  readonly status: Json;
  readonly database: Json | undefined;
  readonly pools: Json | undefined;
  readonly slowQueries: Json | undefined;
  readonly alerts: Json | undefined;
  readonly rpc: readonly RpcPoint[];
  /** Why a section is missing, by section id. */
  readonly unavailable?: Readonly<Record<string, string>>;
}

export const htmlText = (v: unknown) =>
  String(v ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );
const list = (o: Json | undefined, key: string) => ((o?.[key] as Json[] | undefined) ?? []) as Json[];

function table(columns: readonly string[], rows: readonly (readonly unknown[])[], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${htmlText(empty)}</p>`;
  const head = columns.map((c) => `<th>${htmlText(c)}</th>`).join("");
  const body = rows.map((r) => `<tr>${r.map((v) => `<td>${htmlText(v)}</td>`).join("")}</tr>`).join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function section(id: string, title: string, body: string | undefined, why?: string): string {
  const missing = `<p class="unavailable">unavailable${why ? `: ${htmlText(why)}` : ""}</p>`;
  return `<section id="${id}"><h2>${htmlText(title)}</h2>${body ?? missing}</section>`;
}

/** A polyline of `values` scaled into a `width` x `height` box. */
function polyline(values: readonly number[], width: number, height: number, cls: string): string {
  const max = Math.max(...values, 1e-9);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - (v / max) * height).toFixed(1)}`);
  return `<polyline class="${cls}" fill="none" points="${points.join(" ")}"/>`;
}

/** Inline SVG of recent RPC rate and mean latency (server-side, no script). */
export function rpcChart(points: readonly RpcPoint[]): string {
  const [w, h] = [600, 120];
  if (points.length === 0) return '<p class="empty">no samples yet</p>';
  const rates = points.map((p) => p.ratePerSecond);
  const latencies = points.map((p) => p.meanLatencyMs);
  const last = points.at(-1);
  return [
    `<svg id="rpc-svg" role="img" aria-label="RPC rate and latency" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}">`,
    `<rect width="${w}" height="${h}" fill="#fafafa" stroke="#ddd"/>`,
    polyline(rates, w, h, "rate"),
    polyline(latencies, w, h, "latency"),
    "</svg>",
    `<p class="legend"><span class="rate">rate</span> now ${htmlText(last?.ratePerSecond.toFixed(2))}/s (max ${htmlText(Math.max(...rates).toFixed(2))}) · `,
    `<span class="latency">mean latency</span> now ${htmlText(last?.meanLatencyMs.toFixed(1))} ms (max ${htmlText(Math.max(...latencies).toFixed(1))}) · ${points.length} samples</p>`,
  ].join("");
}

const STYLE = `body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}h1{font-size:1.3rem}
h2{font-size:1.05rem;margin-top:1.5rem}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
.unavailable{color:#b00}.empty{color:#777}polyline.rate{stroke:#1f77b4;stroke-width:2}polyline.latency{stroke:#d62728;stroke-width:2}
span.rate{color:#1f77b4}span.latency{color:#d62728}code{font-size:12px}`;

export function renderStatusPage(p: StatusPageInput): string {
  const status = (p.status.status as Json | undefined) ?? {};
  const services = table(
    ["service", "instance", "version", "uptime", "profile"],
    list(status, "services").map((s) => [s.service, s.instance, s.version, s.uptime, s.profile]),
    "no services reported",
  );
  const database =
    p.database &&
    table(
      ["status", "reachable", "round trip (ms)", "checked"],
      [[p.database.status, p.database.reachable, p.database.roundTripMs, p.database.checkTime]],
      "",
    ) + `<p>PostgreSQL ${htmlText(status.databaseVersion)}</p>`;
  const pools =
    p.pools &&
    table(
      ["service", "pool", "in use", "idle", "waiting", "max", "p95 wait", "timeouts"],
      list(p.pools, "pools").map((x) => [
        x.service,
        x.pool,
        x.inUse ?? 0,
        x.idle ?? 0,
        x.waiting ?? 0,
        x.maxSize ?? 0,
        x.p95AcquireWait ?? "0s",
        x.acquireTimeoutCount ?? 0,
      ]),
      "no pools reported",
    );
  const slow =
    p.slowQueries &&
    table(
      ["query", "calls", "mean", "max"],
      list(p.slowQueries, "slowQueries").map((q) => [
        String(q.query ?? "").slice(0, 160),
        q.calls,
        q.meanExecTime,
        q.maxExecTime,
      ]),
      "no slow queries",
    );
  const alerts =
    p.alerts &&
    table(
      ["state", "severity", "service", "summary", "fired"],
      list(p.alerts, "alerts").map((a) => [a.state, a.severity, a.service, a.summary, a.fireTime]),
      "no recent alerts",
    );
  return [
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Taskmaster status</title>',
    `<meta name="viewport" content="width=device-width"><style>${STYLE}</style></head><body>`,
    `<h1>Taskmaster status</h1><p>profile ${htmlText(status.profile)} · server time ${htmlText(status.serverTime)}</p>`,
    section("services", "Services", services),
    section("database", "Database", database, p.unavailable?.database),
    section("pool", "Connection pools", pools, p.unavailable?.pool),
    section("slow-queries", "Slow queries", slow, p.unavailable?.["slow-queries"]),
    section("alerts", "Recent alerts", alerts, p.unavailable?.alerts),
    section("rpc-chart", "Gateway RPC rate and latency", rpcChart(p.rpc)),
    '<p class="empty">JSON: request with <code>Accept: application/json</code></p></body></html>',
  ].join("\n");
}
