/**
 * Every mutating TemplateService RPC (from the descriptor: every method whose idempotency level is not
 * NO_SIDE_EFFECTS, so a new RPC cannot be forgotten) writes the expected audit rows, in the same transaction,
 * with the context of the call: actor from `x-taskmaster-actor`, request id, trace id, client IP, user agent.
 * RPCs that change no audited entity write none under the caller. A failed call leaves no audit row. Real
 * grpc-js servers (template-service, and task-service for CreateTaskFromTemplate) + PostgreSQL (audit
 * triggers of the database).
 */
import { randomUUID } from "node:crypto";
import { type Client, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MikroORM } from "@mikro-orm/postgresql";
import { initOrm } from "@taskmaster/persistence/orm-config";
import { seedDatabase } from "@taskmaster/persistence/seed";
import {
  TemplateDependencyType,
  TemplatePermissionLevel,
  TemplateReviewStatus,
} from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { createGrpcJsTransport, type GrpcJsTransport } from "@taskmaster/rpc-kit/grpc-client";
import type { GrpcServer } from "@taskmaster/rpc-kit/grpc-server";
import { createServer as createTaskServer } from "@taskmaster/task-service/server";
import { createLogger } from "@taskmaster/telemetry/logger";
import * as auditTrail from "@taskmaster/testing/audit-trail";
import { createTestDatabase, type TestDatabase } from "@taskmaster/testing/test-database";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_ROLE, ROLES_HEADER } from "./authorization.js";
import { uniq } from "./harness.test-util.js";
import { promptDraft, type TemplateInit } from "./render.test-util.js";
import { createServer } from "./server.js";

let db: TestDatabase;
let orm: MikroORM;
let taskServer: GrpcServer;
let server: GrpcServer;
let transport: GrpcJsTransport;
let client: Client<typeof TemplateService>;
let sql: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  orm = (await initOrm({ url: db.appUrl, pool: { min: 0, max: 8 } })) as MikroORM;
  await seedDatabase(orm, { demo: false });
  const logger = createLogger({ service: "template-audit-test", level: "silent" });
  taskServer = createTaskServer({ orm, logger });
  const { port: taskPort } = await taskServer.listen("127.0.0.1", 0);
  transport = createGrpcJsTransport({ address: `127.0.0.1:${taskPort}` });
  // usageFlushMs 0: a render writes its usage log before answering, inside the call (deterministic).
  server = createServer({ orm, logger, taskService: transport, usageFlushMs: 0 });
  const { port } = await server.listen("127.0.0.1", 0);
  client = createClient(TemplateService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
});

afterAll(async () => {
  await sql?.end();
  await server?.shutdown(1_000);
  transport?.close();
  await taskServer?.shutdown(1_000);
  await orm?.close(true);
  await db?.drop();
});

type CallContext = auditTrail.AuditCallContext;

/** The call's context headers; `admin` adds the platform admin role (template types need it). */
function headers(ctx: CallContext, opts: { admin?: boolean } = {}) {
  return auditTrail.auditHeaders(ctx, opts.admin ? { [ROLES_HEADER]: ADMIN_ROLE } : {});
}

/** Fixtures are made by the `setup` actor (a platform admin), so they write nothing under the auditor. */
const setup = () => headers({ actor: "setup", requestId: `setup-${randomUUID()}` }, { admin: true });

/**
 * A template owned by `setup`, on which the call's actor holds `level` and READ (ADMIN implies every level;
 * other levels do not imply READ, without which the template is NOT_FOUND to the caller).
 */
async function granted(c: CallContext, over: TemplateInit = {}, level = TemplatePermissionLevel.ADMIN) {
  const res = await client.createTemplate({ template: promptDraft(over) }, setup());
  const t = res.template;
  if (!t) throw new Error("no template");
  for (const permission of new Set([level, TemplatePermissionLevel.READ])) {
    await client.grantTemplatePermission(
      { parent: t.name, templatePermission: { grantee: { case: "user", value: c.actor }, permission } },
      setup(),
    );
  }
  return t;
}

async function newCategory(parent = "") {
  const res = await client.createTemplateCategory(
    { templateCategory: { displayName: uniq("Audited"), parent, active: true } },
    setup(),
  );
  if (!res.templateCategory) throw new Error("no category");
  return res.templateCategory;
}

async function newType() {
  const id = `t_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
  const res = await client.createTemplateType(
    { templateTypeId: id, templateType: { displayName: "Audited type", active: true } },
    setup(),
  );
  if (!res.templateType) throw new Error("no template type");
  return res.templateType;
}

/** A dependency of a template the actor may write on another it may read (both owned by `setup`). */
async function dependency(c: CallContext, by: ReturnType<typeof headers>) {
  const needed = await granted(c, {}, TemplatePermissionLevel.READ);
  const main = await granted(c, {}, TemplatePermissionLevel.WRITE);
  return client.createTemplateDependency(
    {
      parent: main.name,
      templateDependency: { requiredTemplate: needed.name, type: TemplateDependencyType.REQUIRES },
    },
    by,
  );
}

/** A pending review of a template's 1.0.0 assigned to the call's actor (who may approve). */
async function reviewFor(c: CallContext) {
  const t = await granted(c, {}, TemplatePermissionLevel.APPROVE);
  const res = await client.requestTemplateReview(
    { parent: t.name, templateReview: { version: "1.0.0", reviewer: c.actor } },
    setup(),
  );
  if (!res.templateReview) throw new Error("no review");
  return res.templateReview;
}

const taskTemplate = (): TemplateInit => ({
  slug: uniq("tsk"),
  templateType: "templateTypes/task_template",
  content: "## {{feature_name}}",
  variables: [{ name: "feature_name", required: true }],
  parameters: { title: "Implement the feature" },
});

type Expected = readonly (readonly [entityType: string, action: string])[];

/**
 * One scenario per mutating RPC: `run` performs the call (fixtures made with the `setup` actor) and the
 * audit rows written under the call's actor must include `expected`; `expected: []` means NO row at all.
 */
const scenarios: Record<string, { run: (ctx: CallContext) => Promise<unknown>; expected: Expected }> = {
  createTemplate: {
    run: (c) => client.createTemplate({ template: promptDraft() }, headers(c)),
    expected: [
      ["template", "create"],
      ["template_version", "create"],
    ],
  },
  updateTemplate: {
    run: async (c) => {
      const t = await granted(c, {}, TemplatePermissionLevel.WRITE);
      return client.updateTemplate(
        {
          template: { name: t.name, content: "Build {{feature_name}} now" },
          updateMask: { paths: ["content"] },
        },
        headers(c),
      );
    },
    expected: [
      ["template", "update"],
      ["template_version", "create"],
    ],
  },
  deleteTemplate: {
    run: async (c) => client.deleteTemplate({ name: (await granted(c)).name }, headers(c)),
    expected: [["template", "delete"]],
  },
  undeleteTemplate: {
    run: async (c) => {
      const t = await granted(c);
      await client.deleteTemplate({ name: t.name }, setup());
      return client.undeleteTemplate({ name: t.name }, headers(c));
    },
    expected: [["template", "restore"]],
  },
  rollbackTemplate: {
    run: async (c) => {
      const t = await granted(c, {}, TemplatePermissionLevel.WRITE);
      await client.updateTemplate(
        {
          template: { name: t.name, content: "Second {{feature_name}}" },
          updateMask: { paths: ["content"] },
        },
        setup(),
      );
      return client.rollbackTemplate({ name: t.name, version: "1.0.0" }, headers(c));
    },
    expected: [
      ["template", "update"],
      ["template_version", "create"],
    ],
  },
  createTemplateCategory: {
    run: (c) =>
      client.createTemplateCategory(
        { templateCategory: { displayName: uniq("Cat"), active: true } },
        headers(c),
      ),
    expected: [["template_category", "create"]],
  },
  updateTemplateCategory: {
    run: async (c) =>
      client.updateTemplateCategory(
        {
          templateCategory: { name: (await newCategory()).name, description: "Audited" },
          updateMask: { paths: ["description"] },
        },
        headers(c),
      ),
    expected: [["template_category", "update"]],
  },
  deleteTemplateCategory: {
    run: async (c) => client.deleteTemplateCategory({ name: (await newCategory()).name }, headers(c)),
    expected: [["template_category", "delete"]],
  },
  moveTemplateCategory: {
    run: async (c) => {
      const [parent, child] = [await newCategory(), await newCategory()];
      return client.moveTemplateCategory({ name: child.name, newParent: parent.name }, headers(c));
    },
    expected: [["template_category", "update"]],
  },
  createTemplateType: {
    run: (c) =>
      client.createTemplateType(
        {
          templateTypeId: `t_${randomUUID().replace(/-/g, "").slice(0, 12)}`,
          templateType: { displayName: "Created type", active: true },
        },
        headers(c, { admin: true }),
      ),
    expected: [["template_type", "create"]],
  },
  updateTemplateType: {
    run: async (c) =>
      client.updateTemplateType(
        {
          templateType: { name: (await newType()).name, displayName: "Renamed type" },
          updateMask: { paths: ["display_name"] },
        },
        headers(c, { admin: true }),
      ),
    expected: [["template_type", "update"]],
  },
  deleteTemplateType: {
    run: async (c) =>
      client.deleteTemplateType({ name: (await newType()).name }, headers(c, { admin: true })),
    expected: [["template_type", "delete"]],
  },
  renderTemplate: {
    run: async (c) => {
      const t = await granted(c, {}, TemplatePermissionLevel.EXECUTE);
      return client.renderTemplate({ name: t.name, inputs: { feature_name: "audit" } }, headers(c));
    },
    // Changes no audited entity: a render only writes a usage log (template_usage_logs is operational,
    // not audited).
    expected: [],
  },
  createTemplateDependency: {
    run: (c) => dependency(c, headers(c)),
    expected: [["template_dependency", "create"]],
  },
  deleteTemplateDependency: {
    run: async (c) => {
      const dep = await dependency(c, setup());
      return client.deleteTemplateDependency({ name: dep.templateDependency?.name ?? "" }, headers(c));
    },
    expected: [["template_dependency", "delete"]],
  },
  createTaskFromTemplate: {
    run: async (c) => {
      const t = await granted(c, taskTemplate(), TemplatePermissionLevel.EXECUTE);
      return client.createTaskFromTemplate(
        { name: t.name, inputs: { feature_name: "Audit" }, task: { title: "From template" } },
        headers(c),
      );
    },
    // The task is created by TaskService (a second real server), still under the caller's actor.
    expected: [["task", "create"]],
  },
  logTemplateUsage: {
    run: async (c) => {
      const t = await granted(c, {}, TemplatePermissionLevel.EXECUTE);
      return client.logTemplateUsage({ parent: t.name, templateUsageLog: { success: true } }, headers(c));
    },
    // Changes no audited entity: writes a usage log only (operational, not audited).
    expected: [],
  },
  grantTemplatePermission: {
    run: async (c) =>
      client.grantTemplatePermission(
        {
          parent: (await granted(c)).name,
          templatePermission: {
            grantee: { case: "user", value: "bob" },
            permission: TemplatePermissionLevel.READ,
          },
        },
        headers(c),
      ),
    expected: [["template_permission", "create"]],
  },
  revokeTemplatePermission: {
    run: async (c) => {
      const g = await client.grantTemplatePermission(
        {
          parent: (await granted(c)).name,
          templatePermission: {
            grantee: { case: "user", value: "bob" },
            permission: TemplatePermissionLevel.READ,
          },
        },
        setup(),
      );
      return client.revokeTemplatePermission({ name: g.templatePermission?.name ?? "" }, headers(c));
    },
    // A revoke keeps the grant (revoked_at, revoked_by set): an update.
    expected: [["template_permission", "update"]],
  },
  requestTemplateReview: {
    run: async (c) => {
      const t = await granted(c, {}, TemplatePermissionLevel.WRITE);
      return client.requestTemplateReview(
        { parent: t.name, templateReview: { version: "1.0.0" } },
        headers(c),
      );
    },
    expected: [["template_review", "create"]],
  },
  decideTemplateReview: {
    run: async (c) =>
      client.decideTemplateReview(
        { name: (await reviewFor(c)).name, decision: TemplateReviewStatus.APPROVED, rating: 5 },
        headers(c),
      ),
    // Approving records the approval on the template too.
    expected: [
      ["template_review", "status_change"],
      ["template", "update"],
    ],
  },
};

const rowsOf = (actor: string) => auditTrail.auditRowsOf(sql, actor);

const mutating = auditTrail.mutatingMethods(TemplateService);

describe("audit trail of TemplateService", () => {
  it("has a scenario for every mutating RPC of the contract", () => {
    expect(mutating.length).toBeGreaterThan(15);
    auditTrail.expectScenarioPerRpc(
      mutating.map((m) => m.localName),
      scenarios,
    );
  });

  for (const method of mutating) {
    it(`${method.name} writes audit rows with the caller's context`, async () => {
      const { rows, ctx, expected } = await auditTrail.runAuditScenario(sql, scenarios, method.localName);
      const got = rows.map((r) => [r.entity_type, r.action]);
      if (expected.length === 0) expect(got).toEqual([]);
      auditTrail.expectAuditPairs(rows, expected);
      auditTrail.expectCallContext(rows, ctx);
    });
  }

  it("a failed call leaves no audit row (the whole transaction rolls back)", async () => {
    const ctx = { actor: "auditor.failed@example.com", requestId: `req-${randomUUID()}` };
    const t = await granted(ctx, {}, TemplatePermissionLevel.WRITE);
    const failed = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => e,
      );
    // A stale etag fails inside the update transaction.
    const stale = await failed(
      client.updateTemplate(
        {
          template: { name: t.name, content: "Never {{feature_name}}", etag: 'W/"999"' },
          updateMask: { paths: ["content"] },
        },
        headers(ctx),
      ),
    );
    expect(stale).toBeInstanceOf(ConnectError);
    // A slug that is taken: the template insert fails.
    const taken = await failed(
      client.createTemplate({ template: promptDraft({ slug: t.slug }) }, headers(ctx)),
    );
    expect(taken).toBeInstanceOf(ConnectError);
    expect(await rowsOf(ctx.actor)).toEqual([]);
  });

  it("the chain over all of it verifies", async () => {
    await sql.query("select audit_seal()");
    expect((await sql.query("select * from audit_verify(5)")).rows).toEqual([]);
  });
});
