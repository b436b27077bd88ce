/**
 * TemplateService dependency RPCs: Create/Get/List/DeleteTemplateDependency. INCLUDES/EXTENDS dependencies
 * become Handlebars partials at render time; cycles among them are refused at write time
 * (FAILED_PRECONDITION, reason CYCLE_DETECTED, with a CycleDetail naming the path).
 */
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  DependencyAliasTakenError,
  DependencyCycleError,
  DependencyExistsError,
  type TemplateDependencyKind,
  TemplateDependencyRepository,
  type TemplateDependencyRow,
} from "@taskmaster/persistence/template-dependency.repository";
import { CycleDetailSchema } from "@taskmaster/proto/gen/taskmaster/common/v1/errors_pb";
import {
  type TemplateDependency,
  TemplateDependencySchema,
  TemplateDependencyType,
  TemplateDependencyTypeSchema,
} from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import {
  CreateTemplateDependencyResponseSchema,
  DeleteTemplateDependencyResponseSchema,
  GetTemplateDependencyResponseSchema,
  ListTemplateDependenciesResponseSchema,
  type TemplateService,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { callerOf } from "@taskmaster/rpc-kit/call-context";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from "@taskmaster/rpc-kit/errors";
import { parseListFilter } from "@taskmaster/rpc-kit/list-filter";
import { type Validator, validator } from "@taskmaster/rpc-kit/validation";
import { callerOf as authCallerOf, readableBy } from "./authorization.js";
import { DEPENDENCY_FIELDS, DEPENDENCY_SYNTAX } from "./template.filter.js";
import { templateName } from "./template.names.js";
import { checkVersion } from "./template.validation.js";
import { templateIdOf } from "./usage.handlers.js";

export interface TemplateDependencyHandlerDeps {
  readonly orm: MikroORM;
}

const ALIAS = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const DEP_NAME =
  /^templates\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/dependencies\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

const KIND: Record<TemplateDependencyKind, TemplateDependencyType> = {
  includes: TemplateDependencyType.INCLUDES,
  extends: TemplateDependencyType.EXTENDS,
  requires: TemplateDependencyType.REQUIRES,
  suggests: TemplateDependencyType.SUGGESTS,
};

function kindOf(t: TemplateDependencyType): TemplateDependencyKind {
  const k = (Object.keys(KIND) as TemplateDependencyKind[]).find((x) => KIND[x] === t);
  if (k === undefined) throw new Error(`unknown dependency type ${t}`);
  return k;
}

export const dependencyName = (templateId: string, id: string) =>
  `${templateName(templateId)}/dependencies/${id}`;

function toMessage(row: TemplateDependencyRow): TemplateDependency {
  return create(TemplateDependencySchema, {
    name: dependencyName(row.templateId, row.id),
    requiredTemplate: templateName(row.requiredTemplateId),
    type: KIND[row.type],
    pinnedVersion: row.pinnedVersion ?? "",
    alias: row.type === "includes" || row.type === "extends" ? row.effectiveAlias : (row.alias ?? ""),
    createTime: timestampFromDate(row.createdAt),
  });
}

/** FAILED_PRECONDITION for a dependency that would close a cycle, carrying a CycleDetail. */
class DependencyCycle extends FailedPreconditionError {
  constructor(
    readonly path: string[],
    readonly link: string,
  ) {
    super(`the dependency would create a cycle: ${path.join(" -> ")}`, {
      reason: "CYCLE_DETECTED",
      violations: [
        { type: "CYCLE", subject: path[0] ?? "", description: "the required template depends on this one" },
      ],
    });
  }
  protected override extraDetails() {
    return [
      ...super.extraDetails(),
      {
        desc: CycleDetailSchema as DescMessage,
        value: { path: this.path, link: this.link } as MessageInitShape<DescMessage>,
      },
    ];
  }
}

function parseDependencyName(v: Validator, field: string, name: string) {
  if (!v.required(field, name)) return null;
  const m = DEP_NAME.exec(name);
  if (!m) {
    v.add(
      field,
      'must be "templates/{template}/dependencies/{dependency}" with UUIDs',
      "INVALID_RESOURCE_NAME",
    );
    return null;
  }
  return { templateId: (m[1] as string).toLowerCase(), id: (m[2] as string).toLowerCase() };
}

export function createTemplateDependencyHandlers(
  deps: TemplateDependencyHandlerDeps,
): Pick<
  ServiceImpl<typeof TemplateService>,
  | "createTemplateDependency"
  | "getTemplateDependency"
  | "listTemplateDependencies"
  | "deleteTemplateDependency"
> {
  const repository = () => new TemplateDependencyRepository(deps.orm.em.fork());

  async function mapped<T>(work: () => Promise<T>, link = ""): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof DependencyCycleError) throw new DependencyCycle(err.path.map(templateName), link);
      if (err instanceof DependencyExistsError) {
        throw new AlreadyExistsError(
          "template dependency",
          undefined,
          "this dependency (same required template and type) already exists",
        );
      }
      if (err instanceof DependencyAliasTakenError) {
        throw new AlreadyExistsError(
          "template dependency",
          undefined,
          `another INCLUDES/EXTENDS dependency already uses the partial name "${err.alias}"`,
        );
      }
      throw err;
    }
  }

  async function requireTemplate(repo: TemplateDependencyRepository, id: string) {
    const t = await repo.templateState(id);
    if (t === null) throw new NotFoundError("template", templateName(id));
    return t;
  }

  return {
    async createTemplateDependency(req, ctx) {
      const v = validator();
      const templateId = templateIdOf(v, "parent", req.parent);
      const d = req.templateDependency;
      let requiredId: string | undefined;
      if (v.required("template_dependency", d) && d) {
        const f = "template_dependency";
        requiredId = templateIdOf(v, `${f}.required_template`, d.requiredTemplate);
        v.enumDefined(`${f}.type`, d.type, TemplateDependencyTypeSchema);
        checkVersion(v, `${f}.pinned_version`, d.pinnedVersion, false);
        v.pattern(`${f}.alias`, d.alias, ALIAS, "must match [A-Za-z_][A-Za-z0-9_]{0,63}");
        if (
          d.alias !== "" &&
          d.type !== TemplateDependencyType.INCLUDES &&
          d.type !== TemplateDependencyType.EXTENDS &&
          !v.has(`${f}.type`)
        ) {
          v.add(`${f}.alias`, "is only allowed for INCLUDES and EXTENDS", "NOT_ALLOWED");
        }
        if (templateId && requiredId && templateId === requiredId) {
          v.add(`${f}.required_template`, "must differ from the dependent template", "SELF_DEPENDENCY");
        }
      }
      v.uuid("request_id", req.requestId);
      v.check();
      const dep = d as TemplateDependency;
      const id = templateId as string;
      const required = requiredId as string;
      const link = `TEMPLATE_DEPENDENCY_TYPE_${kindOf(dep.type).toUpperCase()}`;
      return mapped(async () => {
        const repo = repository();
        const self = await requireTemplate(repo, id);
        if (self.deleted) throw new NotFoundError("template", templateName(id));
        const target = await repo.templateState(required);
        if (target === null || target.deleted) {
          throw new InvalidArgumentError([
            {
              field: "template_dependency.required_template",
              description: `template "${templateName(required)}" does not exist`,
              reason: "NOT_FOUND",
            },
          ]);
        }
        if (dep.pinnedVersion !== "" && !(await repo.versionExists(required, dep.pinnedVersion))) {
          throw new InvalidArgumentError([
            {
              field: "template_dependency.pinned_version",
              description: `version ${dep.pinnedVersion} of the required template does not exist`,
              reason: "NOT_FOUND",
            },
          ]);
        }
        const row = await repo.insert(
          {
            templateId: id,
            requiredTemplateId: required,
            type: kindOf(dep.type),
            pinnedVersion: dep.pinnedVersion === "" ? null : dep.pinnedVersion,
            alias: dep.alias === "" ? null : dep.alias,
            createdBy: callerOf(ctx),
          },
          { requestId: req.requestId === "" ? null : req.requestId, dryRun: req.validateOnly },
        );
        return create(CreateTemplateDependencyResponseSchema, { templateDependency: toMessage(row) });
      }, link);
    },

    async getTemplateDependency(req) {
      const v = validator();
      const n = parseDependencyName(v, "name", req.name);
      v.check();
      const { templateId, id } = n as { templateId: string; id: string };
      return mapped(async () => {
        const row = await repository().get(templateId, id);
        if (row === null) throw new NotFoundError("template dependency", dependencyName(templateId, id));
        return create(GetTemplateDependencyResponseSchema, { templateDependency: toMessage(row) });
      });
    },

    async listTemplateDependencies(req, ctx) {
      const v = validator();
      const templateId = templateIdOf(v, "parent", req.parent);
      const pageSize = v.pageSize("page_size", req.pageSize);
      let type: TemplateDependencyKind | null = null;
      try {
        const [c] = parseListFilter(req.filter, DEPENDENCY_FIELDS, { syntax: DEPENDENCY_SYNTAX });
        type = (c?.value as TemplateDependencyKind | undefined) ?? null;
      } catch (err) {
        if (!(err instanceof InvalidArgumentError)) throw err;
        // One description for every mistake, collected with the request's other violations.
        v.add(
          "filter",
          'supports only type = INCLUDES|EXTENDS|REQUIRES|SUGGESTS (e.g. type = "INCLUDES")',
          "INVALID_FILTER",
        );
      }
      v.check();
      const id = templateId as string;
      return mapped(async () => {
        const repo = repository();
        await requireTemplate(repo, id);
        const page = await repo.list({
          templateId: id,
          reverse: req.reverse,
          type,
          pageSize,
          pageToken: req.pageToken === "" ? null : req.pageToken,
          readable: readableBy(authCallerOf(ctx), "x"),
        });
        return create(ListTemplateDependenciesResponseSchema, {
          templateDependencies: page.items.map(toMessage),
          nextPageToken: page.nextPageToken ?? "",
        });
      });
    },

    async deleteTemplateDependency(req) {
      const v = validator();
      const n = parseDependencyName(v, "name", req.name);
      v.check();
      const { templateId, id } = n as { templateId: string; id: string };
      return mapped(async () => {
        // In a transaction: the audit context (actor, request id, ...) is set per transaction.
        const deleted = await deps.orm.em
          .fork()
          .transactional((tx) => new TemplateDependencyRepository(tx).delete(templateId, id));
        if (!deleted) {
          throw new NotFoundError("template dependency", dependencyName(templateId, id));
        }
        return create(DeleteTemplateDependencyResponseSchema, {});
      });
    },
  };
}
