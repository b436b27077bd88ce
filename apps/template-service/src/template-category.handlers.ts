/** TemplateService handlers for the template category tree. */
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  type CategoryCondition,
  CategoryInUseError,
  CategoryNameTakenError,
  CategoryVersionConflictError,
  TemplateCategoryRepository,
  type TemplateCategoryRow,
} from "@taskmaster/persistence/template-category.repository";
import { CycleDetailSchema } from "@taskmaster/proto/gen/taskmaster/common/v1/errors_pb";
import type { TemplateCategory } from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import {
  CreateTemplateCategoryResponseSchema,
  DeleteTemplateCategoryResponseSchema,
  GetTemplateCategoryResponseSchema,
  ListTemplateCategoriesResponseSchema,
  ListTemplateCategorySubtreeResponseSchema,
  MoveTemplateCategoryResponseSchema,
  type TemplateService,
  UpdateTemplateCategoryResponseSchema,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import {
  AlreadyExistsError,
  errorTranslator,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  StaleEtagError,
} from "@taskmaster/rpc-kit/errors";
import { listQueryOf } from "@taskmaster/rpc-kit/list-filter";
import { validator } from "@taskmaster/rpc-kit/validation";
import { CATEGORIES } from "./template.filter.js";
import { categoryToMessage, etagOf } from "./template.mapper.js";
import { CATEGORY_PATTERN, categoryName } from "./template.names.js";

export interface TemplateCategoryHandlerDeps {
  readonly orm: MikroORM;
}

/** FAILED_PRECONDITION for a move that would close a cycle, carrying a CycleDetail. */
class CategoryCycle extends FailedPreconditionError {
  constructor(readonly path: string[]) {
    super(`moving the category would create a cycle: ${path.join(" -> ")}`, {
      reason: "CYCLE_DETECTED",
      violations: [
        {
          type: "CYCLE",
          subject: path[0] ?? "",
          description: "the new parent is the category itself or in its subtree",
        },
      ],
    });
  }
  protected override extraDetails() {
    return [
      ...super.extraDetails(),
      {
        desc: CycleDetailSchema as DescMessage,
        value: { path: this.path, link: "parent" } as MessageInitShape<DescMessage>,
      },
    ];
  }
}

function domainError(err: unknown): unknown {
  if (err instanceof CategoryNameTakenError) {
    return new AlreadyExistsError(
      "template category",
      undefined,
      `a category named "${err.displayName}" already exists`,
    );
  }
  if (err instanceof CategoryVersionConflictError)
    return new StaleEtagError("template category", categoryName(err.id));
  if (err instanceof CategoryInUseError) {
    return new FailedPreconditionError(
      `the category has ${err.children} child categories and ${err.templates} templates`,
      {
        reason: "HAS_DEPENDANTS",
        violations: [
          ...(err.children > 0
            ? [{ type: "HAS_CHILDREN", subject: "children", description: `${err.children} child categories` }]
            : []),
          ...(err.templates > 0
            ? [{ type: "HAS_TEMPLATES", subject: "templates", description: `${err.templates} templates` }]
            : []),
        ],
      },
    );
  }
  return err;
}

const mapped = errorTranslator(domainError);

const INT32 = 2_147_483_647;

export function createTemplateCategoryHandlers(
  deps: TemplateCategoryHandlerDeps,
): Pick<
  ServiceImpl<typeof TemplateService>,
  | "createTemplateCategory"
  | "getTemplateCategory"
  | "listTemplateCategories"
  | "updateTemplateCategory"
  | "deleteTemplateCategory"
  | "moveTemplateCategory"
  | "listTemplateCategorySubtree"
> {
  const repository = () => new TemplateCategoryRepository(deps.orm.em.fork());

  async function get(
    repo: TemplateCategoryRepository,
    id: string,
    forUpdate = false,
  ): Promise<TemplateCategoryRow> {
    const row = await repo.getById(id, forUpdate);
    if (row === null) throw new NotFoundError("template category", categoryName(id));
    return row;
  }

  function parseName(field: string, name: string): string {
    const v = validator();
    const id = v.resourceName(field, CATEGORY_PATTERN, name);
    v.check();
    return id as string;
  }

  function checkEtag(etag: string, row: TemplateCategoryRow): void {
    if (etag !== "" && etag !== etagOf(row.version)) {
      throw new StaleEtagError("template category", categoryName(row.id));
    }
  }

  return {
    async createTemplateCategory(req) {
      const v = validator();
      if (!v.required("template_category", req.templateCategory)) v.check();
      const c = req.templateCategory as TemplateCategory;
      if (v.required("template_category.display_name", c.displayName)) {
        v.length("template_category.display_name", c.displayName, 1, 100);
      }
      v.maxLength("template_category.description", c.description, 2000);
      const parentId =
        c.parent === "" ? null : v.resourceName("template_category.parent", CATEGORY_PATTERN, c.parent);
      v.range("template_category.sort_order", c.sortOrder, -INT32, INT32);
      v.uuid("request_id", req.requestId);
      v.check();
      return mapped(async () => {
        const repo = repository();
        if (req.requestId !== "") {
          const existing = await repo.findByRequestId(req.requestId);
          if (existing)
            return create(CreateTemplateCategoryResponseSchema, {
              templateCategory: categoryToMessage(existing),
            });
        }
        const row = await repo
          .transactional(async (tx) => {
            if (parentId != null && (await tx.getById(parentId)) === null) {
              throw new InvalidArgumentError([
                {
                  field: "template_category.parent",
                  description: `category "${categoryName(parentId)}" does not exist`,
                  reason: "NOT_FOUND",
                },
              ]);
            }
            const input = {
              name: c.displayName,
              description: c.description === "" ? null : c.description,
              parentId: parentId ?? null,
              sortOrder: c.sortOrder,
              isActive: c.active,
            };
            const id = await tx.insert(input, req.requestId === "" ? null : req.requestId);
            const created = await get(tx, id);
            if (req.validateOnly) throw new ValidateOnlyRollback(created);
            return created;
          })
          .catch((err: unknown) => {
            if (err instanceof ValidateOnlyRollback) return { ...err.row, id: "" } as TemplateCategoryRow;
            throw err;
          });
        const msg = categoryToMessage(row);
        if (req.validateOnly) {
          msg.name = "";
          msg.uid = "";
          msg.etag = "";
        }
        return create(CreateTemplateCategoryResponseSchema, { templateCategory: msg });
      });
    },

    async getTemplateCategory(req) {
      const id = parseName("name", req.name);
      return mapped(async () =>
        create(GetTemplateCategoryResponseSchema, {
          templateCategory: categoryToMessage(await get(repository(), id)),
        }),
      );
    },

    async listTemplateCategories(req) {
      const { orderBy, conditions, ...query } = listQueryOf(req, CATEGORIES, {
        pageSize: validator(),
        binding: "",
      });
      return mapped(async () => {
        const page = await repository().list({
          pageSize: query.pageSize,
          pageToken: query.pageToken,
          // CATEGORIES allows only = and != and gives booleans for active.
          conditions: conditions as CategoryCondition[],
          order: orderBy,
        });
        return create(ListTemplateCategoriesResponseSchema, {
          templateCategories: page.items.map(categoryToMessage),
          nextPageToken: page.nextPageToken ?? "",
        });
      });
    },

    async updateTemplateCategory(req) {
      const v = validator();
      if (!v.required("template_category", req.templateCategory)) v.check();
      const c = req.templateCategory as TemplateCategory;
      const id = v.resourceName("template_category.name", CATEGORY_PATTERN, c.name);
      const allowed = ["display_name", "description", "sort_order", "active"];
      const paths = req.updateMask?.paths ?? [];
      const fields = new Set<string>();
      if (v.required("update_mask", paths)) {
        for (const p of paths) {
          if (p === "*") for (const f of allowed) fields.add(f);
          else if (allowed.includes(p)) fields.add(p);
          else {
            v.add(
              "update_mask",
              `unknown or immutable field "${p}" (updatable: ${allowed.join(", ")}; use MoveTemplateCategory for parent)`,
              "INVALID_FIELD_MASK",
            );
          }
        }
      }
      if (fields.has("display_name") && v.required("template_category.display_name", c.displayName)) {
        v.length("template_category.display_name", c.displayName, 1, 100);
      }
      if (fields.has("description")) v.maxLength("template_category.description", c.description, 2000);
      v.check();
      return mapped(async () => {
        const row = await repository().transactional(async (tx) => {
          const cur = await get(tx, id as string, true);
          checkEtag(c.etag, cur);
          await tx.update(cur.id, cur.version, {
            name: fields.has("display_name") ? c.displayName : cur.name,
            description: fields.has("description")
              ? c.description === ""
                ? null
                : c.description
              : cur.description,
            sortOrder: fields.has("sort_order") ? c.sortOrder : cur.sortOrder,
            isActive: fields.has("active") ? c.active : cur.isActive,
            parentId: cur.parentId,
          });
          return get(tx, cur.id);
        });
        return create(UpdateTemplateCategoryResponseSchema, { templateCategory: categoryToMessage(row) });
      });
    },

    async deleteTemplateCategory(req) {
      const id = parseName("name", req.name);
      return mapped(async () => {
        await repository().transactional(async (tx) => {
          const cur = await get(tx, id, true);
          checkEtag(req.etag, cur);
          await tx.delete(cur.id, cur.version);
        });
        return create(DeleteTemplateCategoryResponseSchema, {});
      });
    },

    async moveTemplateCategory(req) {
      const v = validator();
      const id = v.resourceName("name", CATEGORY_PATTERN, req.name);
      const newParent =
        req.newParent === "" ? null : v.resourceName("new_parent", CATEGORY_PATTERN, req.newParent);
      v.check();
      return mapped(async () => {
        const row = await repository().transactional(async (tx) => {
          const cur = await get(tx, id as string, true);
          checkEtag(req.etag, cur);
          if (newParent != null) {
            if ((await tx.getById(newParent)) === null) {
              throw new InvalidArgumentError([
                {
                  field: "new_parent",
                  description: `category "${categoryName(newParent)}" does not exist`,
                  reason: "NOT_FOUND",
                },
              ]);
            }
            // Lock the tree against concurrent moves so two crossing moves cannot both pass the check.
            await tx.lockMoves();
            const path = await tx.pathInSubtree(cur.id, newParent);
            if (path !== null) throw new CategoryCycle([...path, cur.id].map(categoryName));
          }
          await tx.update(cur.id, cur.version, {
            name: cur.name,
            description: cur.description,
            sortOrder: req.sortOrder ?? cur.sortOrder,
            isActive: cur.isActive,
            parentId: newParent ?? null,
          });
          return get(tx, cur.id);
        });
        return create(MoveTemplateCategoryResponseSchema, { templateCategory: categoryToMessage(row) });
      });
    },

    async listTemplateCategorySubtree(req) {
      const v = validator();
      const root = req.root === "" ? null : v.resourceName("root", CATEGORY_PATTERN, req.root);
      v.range("max_depth", req.maxDepth, 0, 1000);
      v.check();
      return mapped(async () => {
        const repo = repository();
        if (root != null) await get(repo, root);
        const rows = await repo.subtree(root ?? null, req.includeInactive, req.maxDepth);
        return create(ListTemplateCategorySubtreeResponseSchema, {
          templateCategories: rows.map(categoryToMessage),
        });
      });
    },
  };
}

/** Thrown inside a validate-only create to roll the transaction back after computing the preview. */
class ValidateOnlyRollback extends Error {
  constructor(readonly row: TemplateCategoryRow) {
    super("validate only");
  }
}
