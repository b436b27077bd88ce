/** The processes that make up the stack, in start order (stopped in reverse). */
export interface StackMember {
  /** Service name as it appears in logs and `grpc.health.v1`. */
  name: string;
  /** Entry point relative to the repository root. */
  entry: string;
  /** Environment variable that carries the listen port, and its default. */
  portEnv: string;
  defaultPort: number;
  /** Environment variable through which other members find this one (host:port). */
  addressEnv: string;
  /** Environment variable through which the monitoring service finds this member's /metrics (host:port). */
  metricsAddressEnv?: string;
  /** How the launcher decides the member is ready. */
  readiness: "grpc-health" | "http-health";
}

export const stack: readonly StackMember[] = [
  {
    name: "taskmaster.task.v1.TaskService",
    entry: "apps/task-service/dist/main.js",
    portEnv: "TASK_SERVICE_PORT",
    addressEnv: "TASK_SERVICE_ADDRESS",
    metricsAddressEnv: "TASK_SERVICE_METRICS_ADDRESS",
    defaultPort: 50051,
    readiness: "grpc-health",
  },
  {
    name: "taskmaster.template.v1.TemplateService",
    entry: "apps/template-service/dist/main.js",
    portEnv: "TEMPLATE_SERVICE_PORT",
    addressEnv: "TEMPLATE_SERVICE_ADDRESS",
    metricsAddressEnv: "TEMPLATE_SERVICE_METRICS_ADDRESS",
    defaultPort: 50052,
    readiness: "grpc-health",
  },
  {
    name: "taskmaster.monitoring.v1.MonitoringService",
    entry: "apps/monitoring-service/dist/main.js",
    portEnv: "MONITORING_SERVICE_PORT",
    addressEnv: "MONITORING_SERVICE_ADDRESS",
    defaultPort: 50053,
    readiness: "grpc-health",
  },
  {
    name: "gateway",
    entry: "apps/gateway/dist/main.js",
    portEnv: "GATEWAY_PORT",
    addressEnv: "GATEWAY_ADDRESS",
    defaultPort: 8080,
    readiness: "http-health",
  },
];
