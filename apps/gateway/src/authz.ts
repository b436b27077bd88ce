/**
 * Authorization: principals -> roles by configuration (email, email domain, group, service token id), roles
 * -> the permission each RPC needs, derived from the descriptors so a new RPC can never be left unmapped:
 *
 * - `admin` for every RPC of an admin-only service (AuditService) and for listed admin RPCs (MonitoringService
 *   except GetHealth/WatchHealth, template types), as the contracts' comments require;
 * - `reader` for methods declared `idempotency_level = NO_SIDE_EFFECTS`;
 * - `writer` for everything else.
 *
 * Roles are ordered: admin > writer > reader. Object-level checks (template grants, comment authorship) stay
 * in the services, which receive the roles in the signed identity.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { z } from "zod";
import type { Principal } from "./authn.js";

export const ROLES = ["reader", "writer", "admin"] as const;
export type Role = (typeof ROLES)[number];

const RANK: Record<Role, number> = { reader: 1, writer: 2, admin: 3 };

/** Services whose every RPC needs admin. */
export const DEFAULT_ADMIN_SERVICES: readonly string[] = ["taskmaster.audit.v1.AuditService"];

/** Single RPCs (`package.Service/Method`) that need admin; `Service/*` = all but those listed as readers. */
export const DEFAULT_ADMIN_METHODS: readonly string[] = [
  "taskmaster.monitoring.v1.MonitoringService/*",
  "taskmaster.template.v1.TemplateService/CreateTemplateType",
  "taskmaster.template.v1.TemplateService/UpdateTemplateType",
  "taskmaster.template.v1.TemplateService/DeleteTemplateType",
];

/** Exceptions to a `Service/*` admin rule, by the contracts: health is readable by readers. */
export const DEFAULT_READER_METHODS: readonly string[] = [
  "taskmaster.monitoring.v1.MonitoringService/GetHealth",
  "taskmaster.monitoring.v1.MonitoringService/WatchHealth",
];

export interface RpcPolicyOptions {
  readonly adminServices?: readonly string[];
  readonly adminMethods?: readonly string[];
  readonly readerMethods?: readonly string[];
}

export const rpcPath = (method: DescMethod) => `${method.parent.typeName}/${method.name}`;

/** The role each RPC needs. */
export function requiredRole(method: DescMethod, options: RpcPolicyOptions = {}): Role {
  const path = rpcPath(method);
  const readers = options.readerMethods ?? DEFAULT_READER_METHODS;
  if (readers.includes(path)) return "reader";
  const adminServices = options.adminServices ?? DEFAULT_ADMIN_SERVICES;
  const adminMethods = options.adminMethods ?? DEFAULT_ADMIN_METHODS;
  if (
    adminServices.includes(method.parent.typeName) ||
    adminMethods.includes(path) ||
    adminMethods.includes(`${method.parent.typeName}/*`)
  ) {
    return "admin";
  }
  return method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS ? "reader" : "writer";
}

export function allows(roles: readonly Role[], needed: Role): boolean {
  return roles.some((r) => RANK[r] >= RANK[needed]);
}

const roleList = z.array(z.enum(ROLES));
/** Role mapping as configured (`GATEWAY_ROLE_MAP`, JSON). Keys are matched case-insensitively. */
export const roleMapSchema = z
  .object({
    /** `ada@example.com` -> roles. */
    emails: z.record(z.string(), roleList).default({}),
    /** `example.com` -> roles for every user with an email in that domain. */
    domains: z.record(z.string(), roleList).default({}),
    /** IdP group name -> roles. */
    groups: z.record(z.string(), roleList).default({}),
    /** Cloudflare service token client id (or bearer `sub`) -> roles. */
    services: z.record(z.string(), roleList).default({}),
    /** Roles of every authenticated principal. */
    authenticated: roleList.default([]),
  })
  .strict();
export type RoleMap = z.output<typeof roleMapSchema>;

function lower<V>(record: Record<string, V>): Map<string, V> {
  return new Map(Object.entries(record).map(([k, v]) => [k.toLowerCase(), v]));
}

/** `principal -> roles` for a role map. `mode: none` principals get `devRoles`. */
export function createRoleResolver(
  map: RoleMap,
  devRoles: readonly Role[] = ["admin"],
): (p: Principal) => Role[] {
  const emails = lower(map.emails);
  const domains = lower(map.domains);
  const groups = lower(map.groups);
  const services = lower(map.services);
  return (p) => {
    if (p.type === "anonymous") return [...devRoles];
    const roles = new Set<Role>(map.authenticated);
    const add = (rs: readonly Role[] | undefined) => {
      for (const r of rs ?? []) roles.add(r);
    };
    if (p.type === "service") add(services.get(p.subject.toLowerCase()));
    if (p.email !== undefined) {
      const email = p.email.toLowerCase();
      add(emails.get(email));
      add(domains.get(email.slice(email.lastIndexOf("@") + 1)));
    }
    for (const g of p.groups) add(groups.get(g.toLowerCase()));
    return ROLES.filter((r) => roles.has(r));
  };
}
