/**
 * TemplateService CreateTaskFromTemplate: renders a task template, then creates the task through
 * TaskService.CreateTask with a typed client (service to service). The incoming call's deadline (and
 * cancellation), its `traceparent` and the caller identity are passed on: with a delegation `signer`, only
 * a VERIFIED caller (identity.ts) is passed, as a token this service signs for TaskService with an `act`
 * claim naming it (the task's reporter and audit actor stay the original caller); an unverified call goes
 * anonymous. Without a signer (development), the plain `x-taskmaster-actor` is passed as before.
 *
 * Idempotency end to end: the TaskService request_id is a UUIDv5 derived from the template request_id, so a
 * retry of the same CreateTaskFromTemplate returns the task created first; the usage log of the call is
 * recorded under a second derived id, so a retry does not count twice.
 */

import { createHash } from "node:crypto";
import { create, type JsonObject } from "@bufbuild/protobuf";
import {
  type Client,
  ConnectError,
  createClient,
  type ServiceImpl,
  type Transport,
} from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import type { MaskingPolicy } from "@taskmaster/config/masking";
import { type Task, TaskSchema } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import {
  CreateTaskFromTemplateResponseSchema,
  type TemplateService,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { deadlineFromContext } from "@taskmaster/rpc-kit/deadline";
import { FailedPreconditionError } from "@taskmaster/rpc-kit/errors";
import type { IdentitySigner } from "@taskmaster/rpc-kit/identity";
import { validator } from "@taskmaster/rpc-kit/validation";
import type { SchemaChecker } from "./json-schema.js";
import type { RenderEngine } from "./render.engine.js";
import { recordRenderUsage } from "./render.handlers.js";
import { renderTemplateVersion } from "./render.service.js";
import type { RenderPlanCache } from "./render-plan.cache.js";
import { forwardedHeaders } from "./task-service.client.js";
import { templateName } from "./template.names.js";
import { checkVersion } from "./template.validation.js";
import { mappedUsage, templateIdOf } from "./usage.handlers.js";
import type { UsageBatcher } from "./usage-batcher.js";

export interface TaskFromTemplateHandlerDeps {
  readonly orm: MikroORM;
  readonly engine: RenderEngine;
  /** The server's JSON Schema checker (see render.service.ts). */
  readonly schemas: SchemaChecker;
  /** Transport to TaskService (one per process, owned by the caller). */
  readonly taskService: Transport;
  /** The server's usage batcher (the call's usage log is queued there). */
  readonly usage: UsageBatcher;
  /** The server's render-plan cache (absent: every render reads its plan). */
  readonly plans?: RenderPlanCache | undefined;
  /** The masking policy for stored usage inputs and error messages (default: the built-in one). */
  readonly masking?: MaskingPolicy | undefined;
  /** Cap on the outgoing CreateTask deadline (default 10 s). */
  readonly taskCallMaxMs?: number;
  /** Signs the verified caller for TaskService (delegation); absent: plain actor header (development). */
  readonly signer?: IdentitySigner | undefined;
}

/** Namespaces of the derived request ids (random UUIDs fixed for this purpose). */
const TASK_REQUEST_NS = "6f1c7f3e-2d0b-4a8e-9a55-3c1f0e8b7d21";
const USAGE_REQUEST_NS = "b0e5d1a2-7c44-4f3b-8e19-5a6d2c9f0e74";

/** RFC 4122 UUIDv5 (SHA-1, name-based) of `name` in `namespace`. */
export function uuidV5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ""), "hex");
  const h = createHash("sha1").update(ns).update(name, "utf8").digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function createTaskFromTemplateHandlers(
  deps: TaskFromTemplateHandlerDeps,
): Pick<ServiceImpl<typeof TemplateService>, "createTaskFromTemplate"> {
  const tasks: Client<typeof TaskService> = createClient(TaskService, deps.taskService);
  return {
    async createTaskFromTemplate(req, ctx) {
      const v = validator();
      const templateId = templateIdOf(v, "name", req.name);
      checkVersion(v, "version", req.version, false);
      v.uuid("task_id", req.taskId);
      v.uuid("request_id", req.requestId);
      v.check();
      const id = templateId as string;
      return mappedUsage(async () => {
        const outcome = await renderTemplateVersion(deps, {
          templateId: id,
          version: req.version,
          inputs: (req.inputs ?? {}) as JsonObject,
          lenient: false,
        });
        if (outcome.template.typeName !== "task_template") {
          throw new FailedPreconditionError("the template is not a task template", {
            reason: "INVALID_STATE",
            violations: [
              {
                type: "TEMPLATE_TYPE",
                subject: templateName(id),
                description: 'CreateTaskFromTemplate needs a template of type "templateTypes/task_template"',
              },
            ],
          });
        }
        const usageRequestId = req.requestId === "" ? null : uuidV5(USAGE_REQUEST_NS, req.requestId);
        if (!outcome.ok) {
          if (!req.validateOnly) {
            await recordRenderUsage(deps.usage, ctx, outcome, {
              taskId: null,
              workflowId: null,
              requestId: usageRequestId,
            });
          }
          throw outcome.error;
        }
        const base = req.task ?? create(TaskSchema, {});
        const task: Task = create(TaskSchema, {
          ...base,
          ...(base.description === ""
            ? { description: outcome.output }
            : {
                technicalNotes:
                  base.technicalNotes === "" ? outcome.output : `${base.technicalNotes}\n\n${outcome.output}`,
              }),
        });
        let created: Task | undefined;
        try {
          const res = await tasks.createTask(
            {
              task,
              taskId: req.taskId,
              requestId: req.requestId === "" ? "" : uuidV5(TASK_REQUEST_NS, req.requestId),
              validateOnly: req.validateOnly,
            },
            {
              ...deadlineFromContext(ctx, deps.taskCallMaxMs ?? 10_000),
              headers: await forwardedHeaders(ctx, deps.signer),
            },
          );
          created = res.task;
        } catch (err) {
          if (!req.validateOnly) {
            await recordRenderUsage(deps.usage, ctx, outcome, {
              taskId: null,
              workflowId: null,
              requestId: usageRequestId,
              error: new Error(`CreateTask failed: ${ConnectError.from(err).rawMessage}`),
            });
          }
          throw err;
        }
        if (!req.validateOnly) {
          const taskId = /^tasks\/(.+)$/.exec(created?.name ?? "")?.[1] ?? null;
          await recordRenderUsage(deps.usage, ctx, outcome, {
            taskId,
            workflowId: null,
            requestId: usageRequestId,
          });
        }
        return create(CreateTaskFromTemplateResponseSchema, {
          task: created,
          version: outcome.version,
          output: outcome.output,
        });
      });
    },
  };
}
