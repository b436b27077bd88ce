/**
 * TemplateService RenderTemplate: renders a version with Handlebars (see render.service.ts for the pipeline
 * and render.engine.ts for caching, safety and limits) and records a usage log for every render that reached
 * a resolved version, successful or not. The log is queued in the server's usage batcher (usage-batcher.ts):
 * its name is in the response at once, the row and the template statistics follow within ~200 ms.
 */

import { create, type JsonObject } from "@bufbuild/protobuf";
import {
  type Client,
  createClient,
  type HandlerContext,
  type ServiceImpl,
  type Transport,
} from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import type { MaskingPolicy } from "@taskmaster/config/masking";
import { UsageTaskNotFoundError } from "@taskmaster/persistence/template-usage.repository";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import {
  RenderTemplateResponseSchema,
  type TemplateService,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { actor } from "@taskmaster/rpc-kit/call-context";
import type { IdentitySigner } from "@taskmaster/rpc-kit/identity";
import { validator } from "@taskmaster/rpc-kit/validation";
import type { SchemaChecker } from "./json-schema.js";
import type { RenderEngine } from "./render.engine.js";
import { type RenderOutcome, renderTemplateVersion } from "./render.service.js";
import type { RenderPlanCache } from "./render-plan.cache.js";
import { taskExists } from "./task-service.client.js";
import { checkVersion } from "./template.validation.js";
import { mappedUsage, taskIdOf, templateIdOf } from "./usage.handlers.js";
import { boundedInputs, durationFromMs, truncateOutput, usageLogName } from "./usage.mapper.js";
import type { UsageBatcher } from "./usage-batcher.js";

export interface RenderHandlerDeps {
  readonly orm: MikroORM;
  readonly engine: RenderEngine;
  /** The server's JSON Schema checker (see render.service.ts). */
  readonly schemas: SchemaChecker;
  /** The server's usage batcher (usage logs are written off the request path). */
  readonly usage: UsageBatcher;
  /** The server's render-plan cache (absent: every render reads its plan). */
  readonly plans?: RenderPlanCache | undefined;
  /** Transport to TaskService: a render naming a task asks it whether the task exists. */
  readonly taskService: Transport;
  /** Signs the verified caller for TaskService (delegation); absent: plain actor header (development). */
  readonly signer?: IdentitySigner | undefined;
  /** The masking policy for stored usage inputs and error messages (default: the built-in one). */
  readonly masking?: MaskingPolicy | undefined;
}

/** Queues the usage log of a render outcome in the server's usage batcher; returns the log's id. */
export async function recordRenderUsage(
  usage: UsageBatcher,
  ctx: HandlerContext,
  outcome: RenderOutcome,
  extra: { taskId: string | null; workflowId: string | null; requestId?: string | null; error?: Error },
): Promise<string> {
  const error = extra.error ?? (outcome.ok ? undefined : outcome.error);
  return usage.add(
    {
      templateId: outcome.template.id,
      version: outcome.version,
      taskId: extra.taskId,
      workflowId: extra.workflowId,
      usedBy: actor(ctx) ?? "service:internal",
      executionMs: outcome.durationMs,
      success: error === undefined,
      errorMessage: error === undefined ? null : outcome.masking.maskValue(error.message).slice(0, 10000),
      inputParameters: boundedInputs(outcome.maskedInputs),
      output: outcome.ok ? truncateOutput(outcome.output) : null,
    },
    extra.requestId ?? null,
  );
}

export function createRenderHandlers(
  deps: RenderHandlerDeps,
): Pick<ServiceImpl<typeof TemplateService>, "renderTemplate"> {
  const tasks: Client<typeof TaskService> = createClient(TaskService, deps.taskService);
  return {
    async renderTemplate(req, ctx) {
      const v = validator();
      const templateId = templateIdOf(v, "name", req.name);
      checkVersion(v, "version", req.version, false);
      const taskId = taskIdOf(v, "task", req.task);
      v.maxLength("workflow_id", req.workflowId, 255);
      v.check();
      const id = templateId as string;
      return mappedUsage(async () => {
        // The usage row is written later (batched): check the task it names now, as the contract requires.
        if (taskId !== null && !(await taskExists(tasks, ctx, taskId, { signer: deps.signer }))) {
          throw new UsageTaskNotFoundError(taskId);
        }
        const outcome = await renderTemplateVersion(deps, {
          templateId: id,
          version: req.version,
          inputs: (req.inputs ?? {}) as JsonObject,
          lenient: req.lenient,
        });
        const logId = await recordRenderUsage(deps.usage, ctx, outcome, {
          taskId,
          workflowId: req.workflowId === "" ? null : req.workflowId,
        });
        if (!outcome.ok) throw outcome.error;
        return create(RenderTemplateResponseSchema, {
          output: outcome.output,
          version: outcome.version,
          missingVariables: outcome.missing,
          unknownVariables: outcome.unknown,
          renderDuration: durationFromMs(outcome.durationMs),
          usageLog: usageLogName(id, logId),
        });
      });
    },
  };
}
