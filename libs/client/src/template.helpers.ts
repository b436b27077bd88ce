/**
 * Template helpers for the seed's operations: store a template (type by id, e.g. `'task_template'`; variables
 * by name), search, render, create a task from a template, log usage (execution time in milliseconds).
 */
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import type { Task } from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import type { TemplateUsageLog } from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import type {
  Template,
  TemplateSchema,
  TemplateVariableSchema,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import type {
  ListTemplatesRequestSchema,
  ListTemplatesResponse,
  RenderTemplateResponse,
  SearchTemplatesResponse,
  TemplateService,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { names } from "./names.js";
import { collect, paginate } from "./paginate.js";
import { type TaskInput, toTask } from "./task.helpers.js";

export interface TemplateInput
  extends Omit<MessageInitShape<typeof TemplateSchema>, "templateType" | "variables" | "slug" | "$typeName"> {
  /** The slug (`feature_implementation`). */
  slug: string;
  /** The template type's id or name (`task_template` or `templateTypes/task_template`). */
  type: string;
  /** Variables by name (required), or in full. */
  variables?: (string | MessageInitShape<typeof TemplateVariableSchema>)[];
}

export interface TemplateSearch {
  query?: string;
  /** Template type id or name. */
  type?: string;
  category?: string;
  tags?: string[];
  active?: boolean;
  public?: boolean;
  orderBy?: string;
  /** Most results to return (default all). */
  limit?: number;
}

export interface UsageInput {
  task?: string | { name: string };
  usedBy?: string;
  /** Milliseconds. */
  executionTime?: number;
  success?: boolean;
  errorMessage?: string;
  version?: string;
  workflowId?: string;
  inputs?: JsonObject;
  output?: string;
}

export type TemplateRef = string | { name: string };

const templateName = (ref: TemplateRef) => names.template(typeof ref === "string" ? ref : ref.name);

export function createTemplateHelpers(client: Client<typeof TemplateService>) {
  return {
    /** Stores a new template (active unless `active: false`); the server assigns version 1.0.0. */
    async create(input: TemplateInput, changeSummary = ""): Promise<Template> {
      const { type, variables, ...rest } = input;
      const templateType = names.templateType(type);
      // A task template's parameters are the new task's defaults; its type requires at least a title.
      const parameters =
        rest.parameters ??
        (templateType === "templateTypes/task_template" ? { title: rest.title ?? "" } : undefined);
      const res = await client.createTemplate({
        template: {
          active: true,
          ...rest,
          templateType,
          ...(parameters === undefined ? {} : { parameters }),
          variables: (variables ?? []).map((v) => (typeof v === "string" ? { name: v, required: true } : v)),
        },
        changeSummary,
      });
      return res.template as Template;
    },
    async get(ref: TemplateRef): Promise<Template> {
      return (await client.getTemplate({ name: templateName(ref) })).template as Template;
    },
    list(
      request: MessageInitShape<typeof ListTemplatesRequestSchema> = {},
    ): AsyncGenerator<Template, void, undefined> {
      return paginate(
        (r) => client.listTemplates(r),
        { pageSize: 100, ...request },
        (res: ListTemplatesResponse) => res.templates,
      );
    },
    /** Templates matching every criterion given, best match first. */
    async search(criteria: TemplateSearch = {}): Promise<Template[]> {
      const results = paginate(
        (r) => client.searchTemplates(r),
        {
          query: criteria.query ?? "",
          templateType: criteria.type ? names.templateType(criteria.type) : "",
          category: criteria.category ? names.templateCategory(criteria.category) : "",
          tags: criteria.tags ?? [],
          ...(criteria.active === undefined ? {} : { active: criteria.active }),
          ...(criteria.public === undefined ? {} : { public: criteria.public }),
          orderBy: criteria.orderBy ?? "",
          pageSize: 50,
        },
        (res: SearchTemplatesResponse) =>
          res.results.map((r) => r.template).filter((t): t is Template => t !== undefined),
      );
      return collect(results, criteria.limit);
    },
    async render(ref: TemplateRef, inputs: JsonObject, version = ""): Promise<RenderTemplateResponse> {
      return client.renderTemplate({ name: templateName(ref), inputs, version });
    },
    /**
     * Renders the template into a new task's description (or its technical notes when `task` has a
     * description). The task's title defaults to the template's `parameters.title`, else its title.
     */
    async createTask(
      ref: TemplateRef,
      inputs: JsonObject,
      task: TaskInput = {},
    ): Promise<{ task: Task; output: string; version: string }> {
      let title = task.title;
      if (!title) {
        const { template } = await client.getTemplate({ name: templateName(ref) });
        const fromParameters = template?.parameters?.title;
        title =
          typeof fromParameters === "string" && fromParameters ? fromParameters : (template?.title ?? "");
      }
      const res = await client.createTaskFromTemplate({
        name: templateName(ref),
        inputs,
        task: toTask({ ...task, title }),
      });
      return { task: res.task as Task, output: res.output, version: res.version };
    },
    async logUsage(ref: TemplateRef, usage: UsageInput): Promise<TemplateUsageLog> {
      const task =
        usage.task === undefined ? "" : typeof usage.task === "string" ? usage.task : usage.task.name;
      const res = await client.logTemplateUsage({
        parent: templateName(ref),
        templateUsageLog: {
          task: task === "" ? "" : names.task(task),
          usedBy: usage.usedBy ?? "",
          success: usage.success ?? true,
          errorMessage: usage.errorMessage ?? "",
          version: usage.version ?? "",
          workflowId: usage.workflowId ?? "",
          output: usage.output ?? "",
          ...(usage.inputs ? { inputParameters: usage.inputs } : {}),
          ...(usage.executionTime === undefined
            ? {}
            : { executionTime: durationFromMs(usage.executionTime) }),
        },
      });
      return res.templateUsageLog as TemplateUsageLog;
    },
  };
}

export type TemplateHelpers = ReturnType<typeof createTemplateHelpers>;
