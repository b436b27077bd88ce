/** TemplateService handlers for template types (JSON Schema draft 2020-12 + validation rules). */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  TemplateTypeInUseError,
  TemplateTypeRepository,
  type TemplateTypeRow,
  TemplateTypeTakenError,
  TemplateTypeVersionConflictError,
  type TemplateTypeWrite,
  type TypeCondition,
} from "@taskmaster/persistence/template-type.repository";
import type { TemplateType } from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import {
  CreateTemplateTypeResponseSchema,
  DeleteTemplateTypeResponseSchema,
  GetTemplateTypeResponseSchema,
  ListTemplateTypesResponseSchema,
  type TemplateService,
  UpdateTemplateTypeResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import {
  AlreadyExistsError,
  errorTranslator,
  FailedPreconditionError,
  NotFoundError,
  StaleEtagError,
} from "@taskmaster/rpc-kit/errors";
import { listQueryOf } from "@taskmaster/rpc-kit/list-filter";
import { type Validator, validator } from "@taskmaster/rpc-kit/validation";
import type { SchemaChecker } from "./json-schema.js";
import { TYPES } from "./template.filter.js";
import { BUILTIN_TYPES, etagOf, typeToMessage } from "./template.mapper.js";
import { parseTypeName, TYPE_ID, templateName, typeName } from "./template.names.js";

export interface TemplateTypeHandlerDeps {
  readonly orm: MikroORM;
  /** The server's JSON Schema checker (type schemas and the parameters of the type's templates). */
  readonly schemas: SchemaChecker;
}

const MAX_SCHEMA_BYTES = 256 * 1024;
const MASK_FIELDS = ["display_name", "description", "json_schema", "validation_rules", "active"] as const;
type MaskField = (typeof MASK_FIELDS)[number];

function domainError(err: unknown): unknown {
  if (err instanceof TemplateTypeTakenError)
    return new AlreadyExistsError("template type", typeName(err.typeName));
  if (err instanceof TemplateTypeVersionConflictError) {
    return new StaleEtagError("template type", typeName(err.typeName));
  }
  if (err instanceof TemplateTypeInUseError) {
    return new FailedPreconditionError(`the template type is used by ${err.templates} template(s)`, {
      reason: "HAS_DEPENDANTS",
      violations: [
        { type: "IN_USE", subject: "templates", description: `${err.templates} template(s) use it` },
      ],
    });
  }
  return err;
}

const mapped = errorTranslator(domainError);

/** Parses and checks `json_schema` text ("" means {}); records a violation and returns null when bad. */
function parseSchema(
  schemas: SchemaChecker,
  v: Validator,
  field: string,
  text: string,
): Record<string, unknown> | null {
  if (text.trim() === "") return {};
  if (Buffer.byteLength(text, "utf8") > MAX_SCHEMA_BYTES) {
    v.add(field, "must be at most 256 KiB", "TOO_LONG");
    return null;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    v.add(field, "must be valid JSON", "INVALID_JSON");
    return null;
  }
  const problem = schemas.problem(parsed);
  if (problem !== null) {
    v.add(field, problem, "INVALID_JSON_SCHEMA");
    return null;
  }
  return parsed as Record<string, unknown>;
}

function checkFields(
  schemas: SchemaChecker,
  v: Validator,
  t: TemplateType,
  fields: ReadonlySet<MaskField>,
): Record<string, unknown> | null {
  if (fields.has("display_name") && v.required("template_type.display_name", t.displayName)) {
    v.length("template_type.display_name", t.displayName, 1, 100);
  }
  if (fields.has("description")) v.maxLength("template_type.description", t.description, 2000);
  if (fields.has("validation_rules") && t.validationRules !== undefined) {
    if (Buffer.byteLength(JSON.stringify(t.validationRules), "utf8") > 64 * 1024) {
      v.add("template_type.validation_rules", "must be at most 64 KiB serialized", "TOO_LONG");
    }
  }
  return fields.has("json_schema")
    ? parseSchema(schemas, v, "template_type.json_schema", t.jsonSchema)
    : null;
}

function parseName(field: string, name: string): string {
  const v = validator();
  if (v.required(field, name) && parseTypeName(name) === null) {
    v.add(field, 'must be "templateTypes/{id}" with id [a-z][a-z0-9_]{2,62}', "INVALID_RESOURCE_NAME");
  }
  v.check();
  return parseTypeName(name) as string;
}

export function createTemplateTypeHandlers(
  deps: TemplateTypeHandlerDeps,
): Pick<
  ServiceImpl<typeof TemplateService>,
  "createTemplateType" | "getTemplateType" | "listTemplateTypes" | "updateTemplateType" | "deleteTemplateType"
> {
  const repository = () => new TemplateTypeRepository(deps.orm.em.fork());

  async function get(repo: TemplateTypeRepository, id: string, forUpdate = false): Promise<TemplateTypeRow> {
    const row = await repo.getByName(id, forUpdate);
    if (row === null) throw new NotFoundError("template type", typeName(id));
    return row;
  }

  return {
    async createTemplateType(req) {
      const v = validator();
      if (!v.required("template_type", req.templateType)) v.check();
      const t = req.templateType as TemplateType;
      if (v.required("template_type_id", req.templateTypeId)) {
        v.pattern("template_type_id", req.templateTypeId, TYPE_ID, "must match [a-z][a-z0-9_]{2,62}");
      }
      const schema = checkFields(deps.schemas, v, t, new Set(MASK_FIELDS));
      v.check();
      const w: TemplateTypeWrite = {
        displayName: t.displayName,
        description: t.description === "" ? null : t.description,
        jsonSchema: schema ?? {},
        validationRules: (t.validationRules ?? {}) as Record<string, unknown>,
        isActive: t.active,
      };
      return mapped(async () => {
        const repo = repository();
        if (req.validateOnly) {
          if ((await repo.getByName(req.templateTypeId)) !== null) {
            throw new AlreadyExistsError("template type", typeName(req.templateTypeId));
          }
          const now = new Date();
          const preview: TemplateTypeRow = {
            ...w,
            id: "",
            name: req.templateTypeId,
            templateCount: 0,
            createdAt: now,
            updatedAt: now,
            version: 1,
          };
          return create(CreateTemplateTypeResponseSchema, {
            templateType: { ...typeToMessage(preview), etag: "" },
          });
        }
        // In a transaction: the audit context (actor, request id, ...) is set per transaction.
        await repo.transactional((tx) => tx.insert(req.templateTypeId, w));
        return create(CreateTemplateTypeResponseSchema, {
          templateType: typeToMessage(await get(repo, req.templateTypeId)),
        });
      });
    },

    async getTemplateType(req) {
      const id = parseName("name", req.name);
      return mapped(async () =>
        create(GetTemplateTypeResponseSchema, { templateType: typeToMessage(await get(repository(), id)) }),
      );
    },

    async listTemplateTypes(req) {
      const { orderBy, conditions, ...query } = listQueryOf(req, TYPES, {
        pageSize: validator(),
        binding: "",
      });
      return mapped(async () => {
        const page = await repository().list({
          pageSize: query.pageSize,
          pageToken: query.pageToken,
          // TYPES allows only = and != and gives booleans for active / builtin.
          conditions: conditions as TypeCondition[],
          builtinNames: Object.keys(BUILTIN_TYPES),
          order: orderBy,
        });
        return create(ListTemplateTypesResponseSchema, {
          templateTypes: page.items.map(typeToMessage),
          nextPageToken: page.nextPageToken ?? "",
        });
      });
    },

    async updateTemplateType(req) {
      const v = validator();
      if (!v.required("template_type", req.templateType)) v.check();
      const t = req.templateType as TemplateType;
      const id = v.required("template_type.name", t.name) ? parseTypeName(t.name) : null;
      if (id === null && !v.has("template_type.name")) {
        v.add("template_type.name", 'must be "templateTypes/{id}"', "INVALID_RESOURCE_NAME");
      }
      const fields = new Set<MaskField>();
      const paths = req.updateMask?.paths ?? [];
      if (v.required("update_mask", paths)) {
        for (const p of paths) {
          if (p === "*") for (const f of MASK_FIELDS) fields.add(f);
          else if ((MASK_FIELDS as readonly string[]).includes(p)) fields.add(p as MaskField);
          else
            v.add(
              "update_mask",
              `unknown field "${p}" (updatable: ${MASK_FIELDS.join(", ")})`,
              "INVALID_FIELD_MASK",
            );
        }
      }
      const schema = checkFields(deps.schemas, v, t, fields);
      v.check();
      return mapped(async () => {
        const result = await repository().transactional(async (tx) => {
          const row = await get(tx, id as string, true);
          if (t.etag !== "" && t.etag !== etagOf(row.version)) {
            throw new StaleEtagError("template type", typeName(row.name));
          }
          const w: TemplateTypeWrite = {
            displayName: fields.has("display_name") ? t.displayName : row.displayName,
            description: fields.has("description")
              ? t.description === ""
                ? null
                : t.description
              : row.description,
            jsonSchema: fields.has("json_schema") ? (schema ?? {}) : row.jsonSchema,
            validationRules: fields.has("validation_rules")
              ? ((t.validationRules ?? {}) as Record<string, unknown>)
              : row.validationRules,
            isActive: fields.has("active") ? t.active : row.isActive,
          };
          let invalid: string[] = [];
          if (fields.has("json_schema")) {
            invalid = (await tx.templatesOfType(row.id))
              .filter((x) => deps.schemas.violations("parameters", w.jsonSchema, x.parameters).length > 0)
              .map((x) => templateName(x.id));
            if (invalid.length > 0 && !req.allowInvalidTemplates) {
              throw new FailedPreconditionError(
                `${invalid.length} existing template(s) have parameters the new schema rejects`,
                {
                  reason: "SCHEMA_VALIDATION",
                  violations: invalid.slice(0, 100).map((name) => ({
                    type: "SCHEMA_VIOLATION",
                    subject: name,
                    description: "its parameters do not satisfy the new JSON Schema",
                  })),
                },
              );
            }
          }
          if (req.validateOnly) {
            return { row: { ...row, ...w }, invalid };
          }
          await tx.update(row.name, row.version, w);
          return { row: await get(tx, row.name), invalid };
        });
        return create(UpdateTemplateTypeResponseSchema, {
          templateType: typeToMessage(result.row),
          invalidTemplates: req.allowInvalidTemplates ? result.invalid : [],
        });
      });
    },

    async deleteTemplateType(req) {
      const id = parseName("name", req.name);
      return mapped(async () => {
        await repository().transactional(async (tx) => {
          const row = await get(tx, id, true);
          if (req.etag !== "" && req.etag !== etagOf(row.version)) {
            throw new StaleEtagError("template type", typeName(row.name));
          }
          if (BUILTIN_TYPES[row.name] !== undefined) {
            throw new FailedPreconditionError(
              `built-in template type "${typeName(row.name)}" cannot be deleted`,
              {
                reason: "INVALID_STATE",
              },
            );
          }
          await tx.delete(row.name, row.version);
        });
        return create(DeleteTemplateTypeResponseSchema, {});
      });
    },
  };
}
