/**
 * The authorization matrix over a real socket and real PostgreSQL: every TemplateService RPC (taken from the
 * service descriptor, so a new RPC cannot be forgotten) x every permission level, plus owner, public,
 * role, team, expired and revoked grants, unauthenticated and internal callers.
 */
import { create, type DescMethod } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { seedDatabase } from "@taskmaster/persistence/seed";
import { ErrorInfoSchema, ResourceInfoSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import { TemplatePermissionLevel } from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorize, type Caller, type Level, POLICIES, type Policy } from "./authorization.js";
import { clientWithHeaders, failure, uniq } from "./harness.test-util.js";
import { createServer } from "./server.js";

const TOKEN = "test-internal-token-0123456789";
let db: TestDatabase;
let orm: MikroORM;
let server: GrpcServer;
let baseUrl: string;

type Headers = Record<string, string>;
const clientWith = (headers: Headers): Client<typeof TemplateService> => clientWithHeaders(baseUrl, headers);
const as = (subject: string, extra: Headers = {}) => clientWith({ "x-taskmaster-actor": subject, ...extra });

const OWNER = "owner-user";
const LEVELS: Level[] = ["read", "write", "execute", "admin", "approve"];
const ENUM: Record<Level, TemplatePermissionLevel> = {
  read: TemplatePermissionLevel.READ,
  write: TemplatePermissionLevel.WRITE,
  execute: TemplatePermissionLevel.EXECUTE,
  admin: TemplatePermissionLevel.ADMIN,
  approve: TemplatePermissionLevel.APPROVE,
};
let templateId: string;
let otherId: string;

async function newTemplate(owner: string, isPublic = false): Promise<string> {
  const res = await as(owner).createTemplate({
    template: {
      slug: uniq("authz"),
      title: "Authorization target",
      templateType: "templateTypes/prompt_instruction",
      content: "Do {{objective}}",
      variables: [{ name: "objective" }],
      parameters: { objective: "x" },
      active: true,
      public: isPublic,
    },
  });
  return res.template?.uid as string;
}

async function grant(id: string, grantee: { case: "user" | "role" | "team"; value: string }, level: Level) {
  const res = await as(OWNER).grantTemplatePermission({
    parent: `templates/${id}`,
    templatePermission: { grantee, permission: ENUM[level] },
  });
  return res.templatePermission?.name as string;
}

beforeAll(async () => {
  db = await createTestDatabase();
  orm = (await initOrm({ url: db.appUrl, pool: { min: 0, max: 8 } })) as MikroORM;
  await seedDatabase(orm, { demo: false });
  server = createServer({
    orm,
    logger: createLogger({ service: "authz-test", level: "silent" }),
    internalToken: TOKEN,
  });
  const { port } = await server.listen("127.0.0.1", 0);
  baseUrl = `http://127.0.0.1:${port}`;
  templateId = await newTemplate(OWNER);
  otherId = await newTemplate(OWNER);
  for (const level of LEVELS) await grant(templateId, { case: "user", value: `u-${level}` }, level);
});
afterAll(async () => {
  await server?.shutdown(1_000);
  await orm?.close(true);
  await db?.drop();
});

/** A request for `method` whose policy field names template `id` (children get a random child id). */
function requestFor(method: DescMethod, policy: Policy, id: string): Record<string, unknown> {
  if (policy.kind !== "template") return {};
  const child = /(Dependency|Permission|Review)$/.exec(method.name);
  const value =
    method.name === "GetTemplateVersion"
      ? `templates/${id}/versions/1.0.0`
      : policy.field === "name" && child
        ? `templates/${id}/${child[1]?.toLowerCase()}s/00000000-0000-4000-8000-000000000000`
        : `templates/${id}`;
  const [head, tail] = policy.field.split(".") as [string, string | undefined];
  const key = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return tail === undefined ? { [key(head)]: value } : { [key(head)]: { [key(tail)]: value } };
}

type Outcome = "allowed" | "not_found" | "denied";

function expected(policy: Policy, who: Level | "owner" | "none" | "public"): Outcome {
  if (policy.kind === "authenticated") return "allowed";
  if (policy.kind === "role") return "denied";
  const visible = who === "owner" || who === "admin" || who === "read" || who === "public";
  if (!visible) return "not_found";
  return who === "owner" || who === "admin" || who === policy.level ? "allowed" : "denied";
}

async function call(
  client: Client<typeof TemplateService>,
  method: DescMethod,
  req: object,
): Promise<unknown> {
  const fn = (client as unknown as Record<string, (r: object) => Promise<unknown>>)[method.localName];
  try {
    await fn?.(create(method.input, req as never));
    return null;
  } catch (e) {
    return e;
  }
}

/** Classifies a call result: did authorization let it through? */
function outcomeOf(err: unknown, id: string): Outcome | "unimplemented" {
  if (err === null) return "allowed";
  const e = ConnectError.from(err);
  expect(e.rawMessage).not.toMatch(/\bselect\b|\binsert\b|\bat .*\.js:\d+|node_modules/i);
  if (e.code === Code.Unimplemented) return "unimplemented";
  if (e.code === Code.PermissionDenied) return "denied";
  // The template itself is not found (not a permission or review of a visible template).
  const info = e.findDetails(ErrorInfoSchema)[0];
  const resourceType = e.findDetails(ResourceInfoSchema)[0]?.resourceType;
  if (
    e.code === Code.NotFound &&
    info?.reason === "NOT_FOUND" &&
    resourceType === "template" &&
    e.rawMessage.includes(id)
  )
    return "not_found";
  return "allowed";
}

/** Over the wire when the RPC is implemented, else straight through the same decision function. */
async function outcome(method: DescMethod, who: string, caller: Caller, id: string): Promise<Outcome> {
  const policy = POLICIES[method.name] as Policy;
  const req = requestFor(method, policy, id);
  const got = outcomeOf(await call(as(who), method, req), id);
  if (got !== "unimplemented") return got;
  try {
    await authorize(orm, caller, method.name, create(method.input, req as never));
    return "allowed";
  } catch (e) {
    return outcomeOf(e, id) as Outcome;
  }
}

const user = (subject: string, roles: string[] = [], teams: string[] = []): Caller => ({
  subject,
  roles,
  teams,
  internal: false,
});
const methods = TemplateService.methods;

describe("policy table", () => {
  it("has exactly one entry per TemplateService RPC", () => {
    expect(Object.keys(POLICIES).sort()).toEqual(methods.map((m) => m.name).sort());
  });

  it("refuses an RPC missing from the table (fail closed)", async () => {
    await expect(authorize(orm, user(OWNER), "SomeFutureRpc", {})).rejects.toMatchObject({
      reason: "PERMISSION_DENIED",
    });
  });
});

describe.each(methods.map((m) => [m.name, m] as const))("%s", (_name, method) => {
  const policy = POLICIES[method.name] as Policy;

  it("answers UNAUTHENTICATED (or UNIMPLEMENTED) without a caller identity", async () => {
    const err = await call(clientWith({}), method, requestFor(method, policy, templateId));
    expect(err).not.toBeNull();
    expect([Code.Unauthenticated, Code.Unimplemented]).toContain(ConnectError.from(err).code);
  });

  it("matches the matrix for no grant, owner and each single permission level", async () => {
    const rows: [string, Level | "owner" | "none"][] = [
      ["nobody", "none"],
      [OWNER, "owner"],
      ...LEVELS.map((l) => [`u-${l}`, l] as [string, Level]),
    ];
    const got: Record<string, Outcome> = {};
    const want: Record<string, Outcome> = {};
    for (const [who, level] of rows) {
      // an allowed DeleteTemplate deletes: restore so every row meets the same live template
      await orm.em
        .fork()
        .getConnection()
        .execute("update templates set deleted_at = null where id = ?", [templateId]);
      got[level] = await outcome(method, who, user(who), templateId);
      want[level] = expected(policy, level);
    }
    expect(got).toEqual(want);
  });
});

describe("grant kinds and lifetimes", () => {
  const get = (id: string) => ({ name: `templates/${id}` });

  it("a public template is readable by anyone authenticated, but not writable", async () => {
    const pub = await newTemplate(OWNER, true);
    expect((await as("stranger").getTemplate(get(pub))).template?.uid).toBe(pub);
    await failure(as("stranger").deleteTemplate(get(pub)), Code.PermissionDenied);
  });

  it("role grants apply to callers carrying the role", async () => {
    const id = await newTemplate(OWNER);
    await grant(id, { case: "role", value: "reviewers" }, "read");
    await failure(as("carol").getTemplate(get(id)), Code.NotFound);
    const res = await as("carol", { "x-taskmaster-roles": "writer, reviewers" }).getTemplate(get(id));
    expect(res.template?.uid).toBe(id);
  });

  it("team grants apply to callers in the team", async () => {
    const id = await newTemplate(OWNER);
    await grant(id, { case: "team", value: "platform" }, "admin");
    await failure(as("dave", { "x-taskmaster-teams": "web" }).deleteTemplate(get(id)), Code.NotFound);
    const res = await as("dave", { "x-taskmaster-teams": "web,platform" }).deleteTemplate(get(id));
    expect(res.template?.deleteTime).toBeDefined();
  });

  it("expired grants are ignored", async () => {
    const id = await newTemplate(OWNER);
    await orm.em
      .fork()
      .getConnection()
      .execute(
        `insert into template_permissions (id, template_id, user_id, permission, granted_by, granted_at, expires_at)
         values (gen_random_uuid(), ?, 'erin', 'admin', ?, now() - interval '2 days', now() - interval '1 day')`,
        [id, OWNER],
      );
    await failure(as("erin").getTemplate(get(id)), Code.NotFound);
    // a grant that expires later still works until then
    await as(OWNER).grantTemplatePermission({
      parent: `templates/${id}`,
      templatePermission: {
        grantee: { case: "user", value: "erin" },
        permission: TemplatePermissionLevel.READ,
        expireTime: timestampFromDate(new Date(Date.now() + 3_600_000)),
      },
    });
    expect((await as("erin").getTemplate(get(id))).template?.uid).toBe(id);
  });

  it("revoked grants are ignored", async () => {
    const id = await newTemplate(OWNER);
    const name = await grant(id, { case: "user", value: "frank" }, "read");
    expect((await as("frank").getTemplate(get(id))).template?.uid).toBe(id);
    await as(OWNER).revokeTemplatePermission({ name });
    await failure(as("frank").getTemplate(get(id)), Code.NotFound);
  });

  it("a grant on one template says nothing about another", async () => {
    await failure(as("u-admin").getTemplate(get(otherId)), Code.NotFound);
  });

  it("an unknown template is NOT_FOUND exactly like an invisible one", async () => {
    const a = await failure(as("nobody").getTemplate(get(otherId)), Code.NotFound);
    const b = await failure(
      as("nobody").getTemplate(get("0190aaaa-0000-4000-8000-000000000000")),
      Code.NotFound,
    );
    expect(a.findDetails(ErrorInfoSchema)[0]?.reason).toBe(b.findDetails(ErrorInfoSchema)[0]?.reason);
  });

  it("type administration requires the admin role", async () => {
    const type = {
      name: `templateTypes/${uniq("authz").toLowerCase()}`,
      displayName: "Authz type",
      active: true,
    };
    const denied = await failure(
      as("grace").createTemplateType({ templateType: type }),
      Code.PermissionDenied,
    );
    expect(denied.findDetails(ErrorInfoSchema)[0]?.reason).toBe("PERMISSION_DENIED");
    const err = await call(
      as("grace", { "x-taskmaster-roles": "admin" }),
      TemplateService.method.createTemplateType,
      { templateType: type },
    );
    if (err !== null) expect(ConnectError.from(err).code).not.toBe(Code.PermissionDenied);
  });

  it("READ on the required template is needed to depend on it", async () => {
    const mine = await newTemplate("henry");
    await expect(
      authorize(orm, user("henry"), "CreateTemplateDependency", {
        parent: `templates/${mine}`,
        templateDependency: { requiredTemplate: `templates/${otherId}` },
      }),
    ).rejects.toMatchObject({ code: Code.NotFound });
  });
});

describe("caller identity", () => {
  const get = () => ({ name: `templates/${otherId}` });

  it("trusts a service identity carrying the internal token", async () => {
    const res = await as("service:task-service", { "x-taskmaster-internal-token": TOKEN }).getTemplate(get());
    expect(res.template?.uid).toBe(otherId);
  });

  it("refuses a service identity without or with a wrong token", async () => {
    await failure(as("service:task-service").getTemplate(get()), Code.Unauthenticated);
    await failure(
      as("service:task-service", { "x-taskmaster-internal-token": `${TOKEN}x` }).getTemplate(get()),
      Code.Unauthenticated,
    );
  });

  it("a token without a service subject grants nothing", async () => {
    await failure(as("nobody", { "x-taskmaster-internal-token": TOKEN }).getTemplate(get()), Code.NotFound);
  });

  it("rejects oversize identity metadata", async () => {
    await failure(as("x".repeat(300)).getTemplate(get()), Code.InvalidArgument);
    await failure(
      as("ivy", {
        "x-taskmaster-roles": Array.from({ length: 101 }, (_, i) => `r${i}`).join(","),
      }).getTemplate(get()),
      Code.InvalidArgument,
    );
  });

  it("treats SQL metacharacters in identities as plain data", async () => {
    const id = await newTemplate(OWNER);
    const odd = "o'neil\"; drop table templates; --";
    await grant(id, { case: "team", value: odd }, "read");
    expect(
      (await as("jack", { "x-taskmaster-teams": odd }).getTemplate({ name: `templates/${id}` })).template
        ?.uid,
    ).toBe(id);
    await failure(as(odd).getTemplate({ name: `templates/${id}` }), Code.NotFound);
  });
});
