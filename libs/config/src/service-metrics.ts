/**
 * Where the monitoring service reads the other processes' Prometheus `/metrics` (pool and RPC figures for
 * GetPoolStats and the whole-system POOL_SATURATION / ERROR_RATE alerts), the same way it knows their gRPC
 * addresses for health: `TASK_SERVICE_METRICS_ADDRESS` and `TEMPLATE_SERVICE_METRICS_ADDRESS` (host:port of
 * each service's METRICS_PORT). `./taskmaster start` sets them (gRPC port + 11000), docker-compose.yml sets
 * `task-service:8081` / `template-service:8081`. This list is also the Prometheus scrape target list.
 */

/** Service name -> env var of its metrics address. */
export const SERVICE_METRICS_ENV = {
  "task-service": "TASK_SERVICE_METRICS_ADDRESS",
  "template-service": "TEMPLATE_SERVICE_METRICS_ADDRESS",
} as const;

const DEFAULTS: Record<keyof typeof SERVICE_METRICS_ENV, string> = {
  "task-service": "127.0.0.1:61051",
  "template-service": "127.0.0.1:61052",
};

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/;

/** Service name -> `http://host:port/metrics`; throws naming the variable when a value is malformed. */
export function serviceMetricsUrlsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [service, name] of Object.entries(SERVICE_METRICS_ENV) as [
    keyof typeof SERVICE_METRICS_ENV,
    string,
  ][]) {
    const raw = env[name] || DEFAULTS[service];
    const m = HOST_PORT.exec(raw);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65_535) {
      throw new Error(`${name} must be host:port (got "${raw}")`);
    }
    out[service] = `http://${raw}/metrics`;
  }
  return out;
}
