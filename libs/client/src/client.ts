/**
 * `createTaskmasterClient`: one object with a typed client per service (`task`, `template`, `monitoring`,
 * `audit`, `health`) plus friendly helpers (`tasks`, `templates`), over the gateway (Connect, the default,
 * or gRPC-Web) or straight to the services over gRPC. Every call gets a deadline (default 30 s), creates get
 * a `request_id`, UNAVAILABLE is retried with backoff, and errors are {@link TaskmasterError}s.
 */
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { Health } from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { AuditService } from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_service_pb";
import { MonitoringService } from "@taskmaster/proto/gen/taskmaster/monitoring/v1/monitoring_service_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { authHeaders, type RetryOptions, requestIds, retries, typedErrors } from "./interceptors.js";
import { createTaskHelpers, type TaskHelpers } from "./task.helpers.js";
import { createTemplateHelpers, type TemplateHelpers } from "./template.helpers.js";

export type Protocol = "connect" | "grpc-web" | "grpc";

export type ServiceKey = "task" | "template" | "monitoring" | "audit" | "health";

export type TaskmasterClientOptions = {
  /** The gateway (`http://127.0.0.1:8080`), or a service when `protocol: "grpc"`. */
  readonly baseUrl: string;
  /** Wire protocol (default `connect`; `grpc-web` for the gateway's gRPC-Web; `grpc` for HTTP/2 gRPC). */
  readonly protocol?: Protocol;
  /** Per-service base URLs, e.g. the direct service ports (task 50051, template 50052, monitoring 50053). */
  readonly endpoints?: Partial<Record<ServiceKey, string>>;
  /** Your own transport (a browser's `@connectrpc/connect-web` one), used as given: build it with `taskmasterInterceptors()`. */
  readonly transport?: Transport;
  /** Deadline of every call without its own `timeoutMs` (default 30 000; streams from `watch` have none). */
  readonly timeoutMs?: number;
  readonly retry?: RetryOptions;
  /** More interceptors, run inside the client's own. */
  readonly interceptors?: readonly Interceptor[];
  /** Development, direct to a service: who is calling (plain `x-taskmaster-actor`; see Credentials). */
  readonly actor?: string;
  readonly roles?: readonly string[];
  /** A bearer token (`Authorization: Bearer ...`), e.g. an identity provider's JWT. */
  readonly token?: string;
  /** A Cloudflare Access service token (sent as `CF-Access-Client-Id` / `CF-Access-Client-Secret`). */
  readonly serviceToken?: { readonly clientId: string; readonly clientSecret: string };
};

export interface TaskmasterClient {
  readonly task: Client<typeof TaskService>;
  readonly template: Client<typeof TemplateService>;
  readonly monitoring: Client<typeof MonitoringService>;
  readonly audit: Client<typeof AuditService>;
  readonly health: Client<typeof Health>;
  /** Helpers for the common task operations (short enum names, plain dates and numbers). */
  readonly tasks: TaskHelpers;
  /** Helpers for templates: store, search, render, create a task, log usage. */
  readonly templates: TemplateHelpers;
}

/**
 * The client's interceptors, outermost first: typed errors, request ids, credentials, retries, then yours.
 * Pass them to your own transport (`createConnectTransport({ baseUrl, interceptors })` from
 * `@connectrpc/connect-web` in a browser) when you give `transport`.
 */
export function taskmasterInterceptors(
  options: Pick<
    TaskmasterClientOptions,
    "retry" | "interceptors" | "token" | "serviceToken" | "actor" | "roles"
  >,
): Interceptor[] {
  return [
    typedErrors,
    requestIds,
    authHeaders(options),
    retries(options.retry),
    ...(options.interceptors ?? []),
  ];
}

export function createTaskmasterClient(options: TaskmasterClientOptions): TaskmasterClient {
  const interceptors = taskmasterInterceptors(options);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const transports = new Map<string, Transport>();
  const transportFor = (key: ServiceKey): Transport => {
    const baseUrl = options.endpoints?.[key] ?? options.baseUrl;
    if (options.transport !== undefined && options.endpoints?.[key] === undefined) return options.transport;
    let transport = transports.get(baseUrl);
    if (transport === undefined) {
      const common = { baseUrl, interceptors, defaultTimeoutMs: timeoutMs, useBinaryFormat: true };
      transport =
        options.protocol === "grpc"
          ? createGrpcTransport(common)
          : options.protocol === "grpc-web"
            ? createGrpcWebTransport({ ...common, httpVersion: "1.1" })
            : createConnectTransport({ ...common, httpVersion: "1.1" });
      transports.set(baseUrl, transport);
    }
    return transport;
  };
  const task = createClient(TaskService, transportFor("task"));
  const template = createClient(TemplateService, transportFor("template"));
  return {
    task,
    template,
    monitoring: createClient(MonitoringService, transportFor("monitoring")),
    audit: createClient(AuditService, transportFor("audit")),
    health: createClient(Health, transportFor("health")),
    tasks: createTaskHelpers(task),
    templates: createTemplateHelpers(template),
  };
}
