/**
 * docker-compose.yml profile "observability" checked statically (no Docker engine here): every file it
 * mounts exists and parses, ports agree between compose, the collector, Prometheus and Grafana, every
 * process exports OTLP to the collector and is scraped on its metrics port, every observability service has
 * a healthcheck, and every metric the Grafana dashboard queries is one our code really exports (names read
 * from the real registries: the process metrics, the gateway's security events, the backup daemon's text).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createSecurityEvents } from "@taskmaster/gateway/security-events";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createProcessMetrics } from "@taskmaster/telemetry/metrics";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { stack } from "./stack.js";

const root = join(import.meta.dirname, "..", "..", "..");

interface ComposeService {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  profiles?: string[];
  volumes?: string[];
  expose?: string[];
  ports?: string[];
  healthcheck?: { test: string[] };
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
}

const readYaml = <T>(path: string) => parse(readFileSync(join(root, path), "utf8"), { merge: true }) as T;
const compose = readYaml<ComposeFile>("docker-compose.yml");
const OBSERVABILITY = ["otel-collector", "jaeger", "prometheus", "grafana"];
const serviceOf = (entry: string) =>
  Object.entries(compose.services).find(([, s]) => s.command?.includes(entry)) ?? [undefined, undefined];

/** `./deploy/x:/etc/x:ro` -> `deploy/x`; named volumes -> undefined. */
const bindSource = (volume: string) => (volume.startsWith("./") ? volume.slice(2).split(":")[0] : undefined);

interface Collector {
  receivers: { otlp: { protocols: Record<string, { endpoint: string }> } };
  exporters: Record<string, { endpoint: string }>;
  service: { pipelines: Record<string, { receivers: string[]; exporters: string[] }> };
}
interface Prometheus {
  scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
}
interface Dashboard {
  panels: { title: string; targets: { expr: string; datasource: { uid: string } }[] }[];
}

const collector = readYaml<Collector>("deploy/otel-collector.yaml");
const prometheus = readYaml<Prometheus>("deploy/prometheus.yml");
const datasources = readYaml<{ datasources: { uid: string; type: string; url: string }[] }>(
  "deploy/grafana/provisioning/datasources/datasources.yaml",
).datasources;
const dashboard = JSON.parse(
  readFileSync(join(root, "deploy/grafana/dashboards/taskmaster.json"), "utf8"),
) as Dashboard;
const targets = prometheus.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
const portOf = (endpoint: string) => new URL(endpoint.includes("//") ? endpoint : `x://${endpoint}`).port;

/** Every metric name a process of ours exposes, from the real registries and the backup daemon's text. */
async function exportedMetricNames(): Promise<Set<string>> {
  const metrics = createProcessMetrics();
  createSecurityEvents({
    logger: createLogger({ service: "test", level: "silent" }),
    registry: metrics.registry,
  });
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === "histogram")
      for (const s of ["_bucket", "_sum", "_count"]) names.add(`${m.name}${s}`);
  }
  const { backupMetricsText } = await import("@taskmaster/db-tools/backup/backup-metrics");
  const health = {
    lastSuccessAt: null,
    lastDurationSeconds: 0,
    lastSizeBytes: 0,
    lastVerifyOk: null,
    newestRestorablePoint: null,
    newestVerifiedBackupAt: null,
    restoreTestsPassed: 0,
    restoreTestsFailed: 0,
  };
  for (const m of backupMetricsText(health, new Date(), 26).matchAll(/^# TYPE (\S+)/gm))
    names.add(m[1] ?? "");
  return names;
}

const PROMQL_WORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
]);

/** Metric names in a PromQL expression: identifiers that are neither functions, keywords nor labels. */
function promqlMetricNames(expr: string): string[] {
  const bare = expr
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, " ");
  return [...bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)]
    .filter((m) => !/^\s*\(/.test(bare.slice((m.index ?? 0) + m[0].length)))
    .map((m) => m[0])
    .filter((w) => !PROMQL_WORDS.has(w));
}

describe("docker-compose.yml profile observability", () => {
  it("puts the collector, Jaeger, Prometheus and Grafana behind the profile, each with a healthcheck", () => {
    for (const name of OBSERVABILITY) {
      const s = compose.services[name];
      expect(s?.profiles, name).toEqual(["observability"]);
      expect(s?.healthcheck?.test.length, `${name} healthcheck`).toBeGreaterThan(1);
    }
    for (const [name, s] of Object.entries(compose.services))
      if (!OBSERVABILITY.includes(name) && name !== "cloudflared") expect(s.profiles, name).toBeUndefined();
  });

  it("mounts only files that exist, and named volumes that are declared", () => {
    for (const name of OBSERVABILITY)
      for (const v of compose.services[name]?.volumes ?? []) {
        const source = bindSource(v);
        if (source === undefined) expect(Object.keys(compose.volumes), v).toContain(v.split(":")[0]);
        else expect(existsSync(join(root, source)), v).toBe(true);
      }
    expect(compose.services["otel-collector"]?.command).toEqual(["--config=/etc/otelcol/config.yaml"]);
    expect(compose.services["otel-collector"]?.volumes).toContain(
      "./deploy/otel-collector.yaml:/etc/otelcol/config.yaml:ro",
    );
    expect(compose.services.prometheus?.command?.[0]).toBe("--config.file=/etc/prometheus/prometheus.yml");
    expect(compose.services.prometheus?.volumes).toContain(
      "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
    );
  });

  it("points every process's OTLP export at the collector's OTLP/HTTP receiver", () => {
    const http = collector.receivers.otlp.protocols.http?.endpoint ?? "";
    expect(compose.services["otel-collector"]?.expose).toContain(portOf(http));
    for (const member of stack) {
      const [name, s] = serviceOf(member.entry);
      const endpoint = s?.environment?.OTEL_EXPORTER_OTLP_ENDPOINT ?? "";
      const fallback = /:-([^}]+)\}/.exec(endpoint)?.[1] ?? endpoint;
      expect(new URL(fallback).host, name).toBe(`otel-collector:${portOf(http)}`);
      expect(s?.environment?.OTEL_EXPORTER_OTLP_PROTOCOL, name).toContain("http/protobuf");
    }
  });

  it("sends traces to Jaeger's OTLP port and exposes metrics where Prometheus scrapes them", () => {
    const pipelines = collector.service.pipelines;
    expect(pipelines.traces?.receivers).toContain("otlp");
    for (const exporter of [...(pipelines.traces?.exporters ?? []), ...(pipelines.metrics?.exporters ?? [])])
      expect(Object.keys(collector.exporters)).toContain(exporter);
    const jaeger = collector.exporters["otlp/jaeger"]?.endpoint ?? "";
    expect(pipelines.traces?.exporters).toContain("otlp/jaeger");
    expect(jaeger.split(":")[0]).toBe("jaeger");
    expect(compose.services.jaeger?.expose).toContain(jaeger.split(":")[1]);
    expect(compose.services.jaeger?.environment?.COLLECTOR_OTLP_ENABLED).toBe("true");
    expect(targets).toContain(`otel-collector:${portOf(collector.exporters.prometheus?.endpoint ?? "")}`);
  });

  it("scrapes every process of the stack and the backup daemon, and only compose services", () => {
    for (const member of stack) {
      const [name, s] = serviceOf(member.entry);
      expect(targets, name).toContain(`${name}:${s?.environment?.METRICS_PORT}`);
      expect(s?.environment?.GRPC_HOST, name).toBe("0.0.0.0");
    }
    const backup = compose.services.backup?.environment;
    expect(targets).toContain(`backup:${backup?.DB_BACKUP_METRICS_PORT}`);
    expect(backup?.DB_BACKUP_METRICS_HOST).toBe("0.0.0.0");
    expect(compose.services.backup?.expose).toContain(backup?.DB_BACKUP_METRICS_PORT);
    for (const target of targets) expect(Object.keys(compose.services)).toContain(target.split(":")[0]);
  });

  it("provisions Grafana with the Prometheus and Jaeger services as datasources", () => {
    const byType = Object.fromEntries(datasources.map((d) => [d.type, d]));
    expect(new URL(byType.prometheus?.url ?? "").host).toBe(
      `prometheus:${compose.services.prometheus?.ports?.[0]?.split(":")[1]}`,
    );
    expect(new URL(byType.jaeger?.url ?? "").host).toBe(
      `jaeger:${compose.services.jaeger?.ports?.[0]?.split(":")[1]}`,
    );
    const provider = readYaml<{ providers: { options: { path: string } }[] }>(
      "deploy/grafana/provisioning/dashboards/dashboards.yaml",
    );
    expect(compose.services.grafana?.volumes).toContain(
      `./deploy/grafana/dashboards:${provider.providers[0]?.options.path}:ro`,
    );
  });

  it("queries only metrics we export, from provisioned datasources, covering RPCs, pool, queries, audit and backup", async () => {
    const exported = await exportedMetricNames();
    expect(exported).toContain("rpc_server_requests_total");
    const used = new Set<string>();
    for (const panel of dashboard.panels)
      for (const target of panel.targets) {
        expect(
          datasources.map((d) => d.uid),
          panel.title,
        ).toContain(target.datasource.uid);
        const names = promqlMetricNames(target.expr);
        expect(names.length, `${panel.title}: ${target.expr}`).toBeGreaterThan(0);
        for (const name of names) {
          expect(exported, `${panel.title}: ${name}`).toContain(name);
          used.add(name);
        }
      }
    for (const family of ["rpc_server_", "db_pool_", "db_query_", "audit_", "taskmaster_backup_"])
      expect(
        [...used].some((n) => n.startsWith(family)),
        family,
      ).toBe(true);
  });

  it("refuses a dashboard metric we do not export (the check can fail)", () => {
    expect(promqlMetricNames('sum by (method) (rate(rpc_server_requests_totl{code!="OK"}[5m]))')).toEqual([
      "rpc_server_requests_totl",
    ]);
    expect(promqlMetricNames("time() - taskmaster_backup_stale")).toEqual(["taskmaster_backup_stale"]);
  });
});

describe("docker-compose.yml seeds as the launcher does", () => {
  it("seeds template types after migrating, before any service starts", () => {
    const seed = compose.services.seed;
    expect(seed?.command).toEqual(["node", "tools/db/dist/db.js", "seed", "--no-demo"]);
    expect(seed?.depends_on?.migrate?.condition).toBe("service_completed_successfully");
    for (const member of stack.filter((m) => m.name !== "gateway"))
      expect(serviceOf(member.entry)[1]?.depends_on?.seed?.condition).toBe("service_completed_successfully");
  });
});
