/**
 * Authorization of every TemplateService RPC: ONE policy table (RPC name -> what the caller needs) enforced
 * by ONE interceptor, which resolves the target template from the request's name field and checks the
 * caller's standing on it with one SQL query (a prepared statement; for GetTemplate the same statement also
 * reads the template row, handed to the handler through `prefetchedTemplateKey`).
 *
 * Caller identity (request metadata, set by the gateway from a verified token; the gateway must strip
 * these headers from what clients send):
 *   - `x-taskmaster-actor`: subject (required on every RPC: no subject is UNAUTHENTICATED);
 *   - `x-taskmaster-roles`, `x-taskmaster-teams`: comma-separated role and team names.
 * Internal calls: a subject `service:<name>` is trusted as ADMIN on everything ONLY when the call also
 * carries `x-taskmaster-internal-token` equal to the server's configured internal token
 * (`TASKMASTER_INTERNAL_TOKEN`; unset means no caller is trusted). A `service:` subject without the right
 * token is UNAUTHENTICATED, so a forged service identity is refused, never downgraded.
 *
 * Rules: owners (templates.owner) hold ADMIN; ADMIN implies every level; a public template is READ for
 * everyone; expired and revoked grants are ignored. A caller without READ on an existing template gets
 * NOT_FOUND (as for a template that does not exist); with READ but without the needed level,
 * PERMISSION_DENIED. Lists over many templates (ListTemplates, SearchTemplates, "templates/-" parents)
 * only require a subject and must filter with `readableTemplatesSql(callerOf(ctx))`.
 */
import { timingSafeEqual } from "node:crypto";
import {
  type ContextKey,
  createContextKey,
  type HandlerContext,
  type Interceptor,
} from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { TemplateRepository } from "@taskmaster/persistence/template.repository";
import {
  hasLevel,
  readableTemplatesSql,
  type TemplateAccess,
  type TemplateAccessor,
  type TemplatePermissionKind,
  TemplatePermissionRepository,
} from "@taskmaster/persistence/template-permission.repository";
import type { TemplateRow } from "@taskmaster/persistence/template-row.mapper";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import {
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  UnauthenticatedError,
} from "@taskmaster/rpc-kit/errors";
import { templateName } from "./template.names.js";

export const ACTOR_HEADER = "x-taskmaster-actor";
export const ROLES_HEADER = "x-taskmaster-roles";
export const TEAMS_HEADER = "x-taskmaster-teams";
export const INTERNAL_TOKEN_HEADER = "x-taskmaster-internal-token";
/** The platform role that may manage template types. */
export const ADMIN_ROLE = "admin";

export interface Caller extends TemplateAccessor {
  /** A verified internal service identity: ADMIN on everything. */
  internal: boolean;
}

/** Per-call caller, set by the authorization interceptor before any handler runs. */
export const callerKey: ContextKey<Caller | null> = createContextKey<Caller | null>(null, {
  description: "template-service caller",
});

/** The authenticated caller of this call (the interceptor guarantees one on every served RPC). */
export function callerOf(ctx: HandlerContext): Caller {
  const caller = ctx.values.get(callerKey);
  if (caller === null) throw new UnauthenticatedError("no caller identity", "UNAUTHENTICATED");
  return caller;
}

/** Templates the caller may read, as a condition over alias `alias` (every template for internal callers). */
export function readableBy(caller: Caller, alias: "x" | "t" = "x"): ReturnType<typeof readableTemplatesSql> {
  return readableTemplatesSql(caller.internal ? null : caller, alias);
}

export type Level = TemplatePermissionKind;

/** What an RPC requires. */
export type Policy =
  /** Any authenticated caller; `scope` says what the handler must filter, if anything. */
  | { kind: "authenticated"; scope?: "readable-templates" }
  /** A platform role. */
  | { kind: "role"; role: string }
  /**
   * `level` on the template named by the request field `field` (dotted path; "templates/{id}" or a child
   * "templates/{id}/..."); `wildcard` allows "templates/-" (authenticated; the handler filters).
   * `alsoRead`: further fields naming templates that need READ.
   */
  | {
      kind: "template";
      level: Level;
      field: string;
      wildcard?: boolean;
      alsoRead?: string[];
      /** Read the whole template row in the authorization query and hand it to the handler (prefetchedTemplate). */
      prefetch?: boolean;
    };

const t = (
  level: Level,
  field: string,
  extra: { wildcard?: boolean; alsoRead?: string[]; prefetch?: boolean } = {},
): Policy => ({
  kind: "template",
  level,
  field,
  ...extra,
});

/** THE table: every TemplateService RPC by method name. An RPC missing here is refused (fail closed). */
export const POLICIES: Readonly<Record<string, Policy>> = {
  CreateTemplate: { kind: "authenticated" },
  GetTemplate: t("read", "name", { prefetch: true }),
  ListTemplates: { kind: "authenticated", scope: "readable-templates" },
  UpdateTemplate: t("write", "template.name"),
  DeleteTemplate: t("admin", "name"),
  UndeleteTemplate: t("admin", "name"),
  GetTemplateVersion: t("read", "name"),
  ListTemplateVersions: t("read", "parent"),
  DiffTemplateVersions: t("read", "name"),
  RollbackTemplate: t("write", "name"),
  CreateTemplateCategory: { kind: "authenticated" },
  GetTemplateCategory: { kind: "authenticated" },
  ListTemplateCategories: { kind: "authenticated" },
  UpdateTemplateCategory: { kind: "authenticated" },
  DeleteTemplateCategory: { kind: "authenticated" },
  MoveTemplateCategory: { kind: "authenticated" },
  ListTemplateCategorySubtree: { kind: "authenticated" },
  CreateTemplateType: { kind: "role", role: ADMIN_ROLE },
  GetTemplateType: { kind: "authenticated" },
  ListTemplateTypes: { kind: "authenticated" },
  UpdateTemplateType: { kind: "role", role: ADMIN_ROLE },
  DeleteTemplateType: { kind: "role", role: ADMIN_ROLE },
  RenderTemplate: t("execute", "name"),
  CreateTemplateDependency: t("write", "parent", { alsoRead: ["template_dependency.required_template"] }),
  GetTemplateDependency: t("read", "name"),
  ListTemplateDependencies: t("read", "parent"),
  DeleteTemplateDependency: t("write", "name"),
  CreateTaskFromTemplate: t("execute", "name"),
  LogTemplateUsage: t("execute", "parent"),
  ListTemplateUsageLogs: t("read", "parent", { wildcard: true }),
  GetTemplateUsageStats: t("read", "name"),
  ListPopularTemplates: { kind: "authenticated", scope: "readable-templates" },
  GetTemplatePerformance: t("read", "name"),
  GetTemplateUsageBreakdown: t("read", "name"),
  SearchTemplates: { kind: "authenticated", scope: "readable-templates" },
  GrantTemplatePermission: t("admin", "parent"),
  GetTemplatePermission: t("admin", "name"),
  ListTemplatePermissions: t("admin", "parent"),
  RevokeTemplatePermission: t("admin", "name"),
  RequestTemplateReview: t("write", "parent"),
  GetTemplateReview: t("read", "name"),
  ListTemplateReviews: t("read", "parent", { wildcard: true }),
  DecideTemplateReview: t("approve", "name"),
};

const MAX_LIST_ENTRIES = 100;
const MAX_NAME = 255;

function headerList(headers: Headers, header: string): string[] {
  const raw = headers.get(header);
  if (raw === null) return [];
  const items = raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (items.length > MAX_LIST_ENTRIES || items.some((s) => s.length > MAX_NAME)) {
    throw new InvalidArgumentError([
      {
        field: header,
        description: `must list at most ${MAX_LIST_ENTRIES} names of at most ${MAX_NAME} characters`,
        reason: "INVALID_METADATA",
      },
    ]);
  }
  return [...new Set(items)];
}

function tokenMatches(given: string | null, expected: string | undefined): boolean {
  if (given === null || expected === undefined || expected === "") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The caller named by request metadata; null without a subject. Throws on a forged service identity. */
export function callerFromHeaders(headers: Headers, internalToken: string | undefined): Caller | null {
  const subject = headers.get(ACTOR_HEADER)?.trim() ?? "";
  if (subject === "") return null;
  if (subject.length > MAX_NAME) {
    throw new InvalidArgumentError([
      {
        field: ACTOR_HEADER,
        description: `must be at most ${MAX_NAME} characters`,
        reason: "INVALID_METADATA",
      },
    ]);
  }
  const internal = subject.startsWith("service:");
  if (internal && !tokenMatches(headers.get(INTERNAL_TOKEN_HEADER), internalToken)) {
    throw new UnauthenticatedError("service identities require the internal token", "UNAUTHENTICATED");
  }
  return {
    subject,
    roles: headerList(headers, ROLES_HEADER),
    teams: headerList(headers, TEAMS_HEADER),
    internal,
  };
}

const TEMPLATE_REF =
  /^templates\/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:\/|$)/;

function fieldValue(message: unknown, path: string): unknown {
  let v: unknown = message;
  for (const part of path.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    const key = part.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** The template id a request field refers to; null when it does not name one (validation reports it). */
export function templateIdOf(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const m = TEMPLATE_REF.exec(value);
  return m ? (m[1] as string).toLowerCase() : null;
}

export interface AuthorizationOptions {
  readonly orm: MikroORM;
  /** The server's TemplateService implementation: unimplemented RPCs keep answering UNIMPLEMENTED. */
  readonly implementation: object;
  /** Shared secret that makes a `service:` subject trusted; unset trusts none. */
  readonly internalToken?: string | undefined;
}

/**
 * The template row read by the authorization query of a `prefetch` policy (GetTemplate): the same statement
 * and snapshot that authorized the call, so the handler needs no second round trip. Null otherwise
 * (internal callers, other RPCs): the handler reads the row itself.
 */
export const prefetchedTemplateKey: ContextKey<TemplateRow | null> = createContextKey<TemplateRow | null>(
  null,
  {
    description: "template row read while authorizing",
  },
);

/** Checks `policy` for `caller` on a request message; throws NOT_FOUND / PERMISSION_DENIED. */
export async function authorize(
  orm: MikroORM,
  caller: Caller,
  method: string,
  message: unknown,
  /** Receives the template row a `prefetch` policy read. */
  onPrefetched?: (row: TemplateRow) => void,
): Promise<void> {
  const policy = POLICIES[method];
  if (policy === undefined) {
    throw new PermissionDeniedError(`no authorization policy for ${method}`, "PERMISSION_DENIED");
  }
  if (caller.internal) return;
  switch (policy.kind) {
    case "authenticated":
      return;
    case "role":
      if (!caller.roles.includes(policy.role)) {
        throw new PermissionDeniedError(`${method} requires the "${policy.role}" role`, "PERMISSION_DENIED", {
          role: policy.role,
        });
      }
      return;
    case "template": {
      const em = orm.em.fork();
      const repo = new TemplatePermissionRepository(em);
      const check = async (value: unknown, level: Level, prefetch = false) => {
        const id = templateIdOf(value);
        if (id === null) return; // malformed or "templates/-": the handler validates or filters
        let access: TemplateAccess | null;
        if (prefetch) {
          const found = await new TemplateRepository(em).getByIdWithAccess(id, caller);
          access = found?.access ?? null;
          if (found !== null && hasLevel(found.access, level)) onPrefetched?.(found.row);
        } else access = await repo.access(id, caller);
        if (access === null || !hasLevel(access, "read"))
          throw new NotFoundError("template", templateName(id));
        if (!hasLevel(access, level)) {
          throw new PermissionDeniedError(
            `${method} requires ${level.toUpperCase()} permission on "${templateName(id)}"`,
            "PERMISSION_DENIED",
            { permission: level, template: templateName(id) },
          );
        }
      };
      await check(fieldValue(message, policy.field), policy.level, policy.prefetch === true);
      for (const f of policy.alsoRead ?? []) await check(fieldValue(message, f), "read");
      return;
    }
  }
}

/** The interceptor enforcing POLICIES on every implemented TemplateService RPC. */
export function createAuthorizationInterceptor(options: AuthorizationOptions): Interceptor {
  const impl = options.implementation as Record<string, unknown>;
  return (next) => async (req) => {
    if (req.service.typeName !== TemplateService.typeName) return next(req);
    if (typeof impl[req.method.localName] !== "function") return next(req);
    const caller = callerFromHeaders(req.header, options.internalToken);
    if (caller === null) {
      throw new UnauthenticatedError(`${ACTOR_HEADER} is required`, "UNAUTHENTICATED");
    }
    req.contextValues.set(callerKey, caller);
    if (req.stream) throw new PermissionDeniedError("streaming RPCs are not authorized", "PERMISSION_DENIED");
    await authorize(options.orm, caller, req.method.name, req.message, (row) =>
      req.contextValues.set(prefetchedTemplateKey, row),
    );
    return next(req);
  };
}
