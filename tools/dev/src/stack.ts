/** The processes that make up the stack, in start order (stopped in reverse). */
export interface StackMember {
  /** Service name as it appears in logs and `grpc.health.v1`. */
  name: string;
  /** Entry point relative to the repository root. */
  entry: string;
  /** Environment variable that carries the listen port, and its default. */
  portEnv: string;
  defaultPort: number;
  /** How the launcher decides the member is ready. */
  readiness: "grpc-health" | "http-health";
}

export const stack: readonly StackMember[] = [
  {
    name: "taskmaster.task.v1.TaskService",
    entry: "apps/task-service/dist/main.js",
    portEnv: "TASK_SERVICE_PORT",
    defaultPort: 50051,
    readiness: "grpc-health",
  },
  {
    name: "taskmaster.template.v1.TemplateService",
    entry: "apps/template-service/dist/main.js",
    portEnv: "TEMPLATE_SERVICE_PORT",
    defaultPort: 50052,
    readiness: "grpc-health",
  },
  {
    name: "taskmaster.monitoring.v1.MonitoringService",
    entry: "apps/monitoring-service/dist/main.js",
    portEnv: "MONITORING_SERVICE_PORT",
    defaultPort: 50053,
    readiness: "grpc-health",
  },
  {
    name: "gateway",
    entry: "apps/gateway/dist/main.js",
    portEnv: "GATEWAY_PORT",
    defaultPort: 8080,
    readiness: "http-health",
  },
];
