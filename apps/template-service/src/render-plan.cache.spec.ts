/**
 * The render-plan cache end to end (real PostgreSQL, real grpc-js servers): server A renders (cache warm),
 * server B (another replica over the same database) changes things, and A's renders see every change once
 * its NOTIFY arrives (polled with a deadline, never timed). Also: writes through A are seen at once by A,
 * permission revokes take effect on the next call, and the cache is bypassed while LISTEN is down.
 */
import { Writable } from "node:stream";
import type { JsonObject } from "@bufbuild/protobuf";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  TemplateDependencyType,
  TemplatePermissionLevel,
  TemplateReviewStatus,
} from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { createLogger } from "@taskmaster/telemetry/logger";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACTOR_HEADER, ADMIN_ROLE, ROLES_HEADER } from "./authorization.js";
import { failure, type Harness, startHarness, uniq } from "./harness.test-util.js";
import { createSchemaChecker } from "./json-schema.js";
import { RenderEngine } from "./render.engine.js";
import { makeTemplate } from "./render.test-util.js";
import type { TemplateGrpcServer } from "./render.wiring.js";
import { RenderPlanCache } from "./render-plan.cache.js";
import { createServer } from "./server.js";

let h: Harness;
let a: TemplateGrpcServer;
let b: TemplateGrpcServer;
let bClient: Client<typeof TemplateService>;
let bAdmin: Client<typeof TemplateService>;

function clientOf(port: number, who: string, roles: string[] = []): Client<typeof TemplateService> {
  return createClient(
    TemplateService,
    createGrpcTransport({
      baseUrl: `http://127.0.0.1:${port}`,
      interceptors: [
        (next) => async (req) => {
          req.header.set(ACTOR_HEADER, who);
          if (roles.length > 0) req.header.set(ROLES_HEADER, roles.join(","));
          return next(req);
        },
      ],
    }),
  );
}

/** Polls `check` until it returns true or `ms` pass (then fails with the last value). */
async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline)
      throw new Error(`condition not met in ${ms} ms; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 20));
    last = await probe();
  }
  return last;
}

/** Opens the cache's LISTEN connection (a server opens it with its first render) and waits until it is up. */
const listening = (c: RenderPlanCache) => {
  c.start();
  return eventually(
    async () => c.isListening,
    (v) => v,
  );
};

/**
 * Renders through A until a render is served from A's cache (notifications of the test's own setup writes
 * may still arrive and clear it at first), and returns that render's output.
 */
async function warm(name: string, inputs: JsonObject, version = ""): Promise<string> {
  await listening(a.renderPlans);
  const res = await eventually(
    async () => {
      const hits = a.renderPlans.stats.hits;
      const r = await h.client.renderTemplate({ name, version, inputs });
      return { output: r.output, hit: a.renderPlans.stats.hits > hits };
    },
    (r) => r.hit,
  );
  return res.output;
}

/** The output of A's render, or the error code. */
async function renderA(name: string, inputs: JsonObject, who = "alice"): Promise<string> {
  try {
    const c = who === "alice" ? h.client : h.as(who);
    return (await c.renderTemplate({ name, inputs })).output;
  } catch (e) {
    return `error ${Code[(e as { code: Code }).code]}`;
  }
}

beforeAll(async () => {
  h = await startHarness();
  a = h.server as TemplateGrpcServer;
  b = createServer({ orm: h.orm, logger: createLogger({ service: "template-test-b", level: "silent" }) });
  const { port } = await b.listen("127.0.0.1", 0);
  bClient = clientOf(port, "alice");
  bAdmin = clientOf(port, "alice", [ADMIN_ROLE]);
});
afterAll(async () => {
  await b?.shutdown(1_000);
  await h?.close();
});

const inputs = { feature_name: "x" };

describe("render-plan cache: changes through another server reach cached plans via NOTIFY", () => {
  it("a new version", async () => {
    const t = await makeTemplate(h.client, { content: "v1 {{feature_name}}" });
    expect(await warm(t.name, inputs)).toBe("v1 x");
    await bClient.updateTemplate({
      template: { name: t.name, content: "v2 {{feature_name}}" },
      updateMask: { paths: ["content"] },
    });
    await eventually(
      () => renderA(t.name, inputs),
      (o) => o === "v2 x",
    );
  });

  it("an approval (and the default version following it)", async () => {
    const t = await makeTemplate(h.client, { content: "v1 {{feature_name}}", requiresApproval: true });
    const r1 = await h.client.requestTemplateReview({ parent: t.name, templateReview: { version: "1.0.0" } });
    await h.client.decideTemplateReview({
      name: r1.templateReview?.name as string,
      decision: TemplateReviewStatus.APPROVED,
      rating: 5,
    });
    const updated = await h.client.updateTemplate({
      template: { name: t.name, content: "v2 {{feature_name}}" },
      updateMask: { paths: ["content"] },
    });
    const v2 = updated.newVersion?.version as string;
    expect(await warm(t.name, inputs)).toBe("v1 x");
    const r2 = await bClient.requestTemplateReview({ parent: t.name, templateReview: { version: v2 } });
    await bClient.decideTemplateReview({
      name: r2.templateReview?.name as string,
      decision: TemplateReviewStatus.APPROVED,
      rating: 5,
    });
    await eventually(
      () => renderA(t.name, inputs),
      (o) => o === "v2 x",
    );
  });

  it("a type schema change", async () => {
    const typeId = uniq("rpt").toLowerCase();
    await h.admin.createTemplateType({
      templateTypeId: typeId,
      templateType: {
        displayName: "plan cache",
        jsonSchema: JSON.stringify({ type: "object" }),
        active: true,
      },
    });
    const t = await makeTemplate(h.client, {
      templateType: `templateTypes/${typeId}`,
      content: "{{level}}",
      variables: [{ name: "level" }, { name: "feature_name" }],
      parameters: {},
    });
    expect(await warm(t.name, { level: "low" })).toBe("low");
    await bAdmin.updateTemplateType({
      templateType: {
        name: `templateTypes/${typeId}`,
        jsonSchema: JSON.stringify({ type: "object", properties: { level: { enum: ["high"] } } }),
      },
      updateMask: { paths: ["json_schema"] },
    });
    await eventually(
      () => renderA(t.name, { level: "low" }),
      (o) => o === "error InvalidArgument",
    );
  });

  it("a partial's new version, then the dependency's removal", async () => {
    const footer = await makeTemplate(h.client, { content: "f1" });
    const main = await makeTemplate(h.client, { content: "[{{> foot}}]" });
    const dep = await h.client.createTemplateDependency({
      parent: main.name,
      templateDependency: {
        requiredTemplate: footer.name,
        type: TemplateDependencyType.INCLUDES,
        alias: "foot",
      },
    });
    expect(await warm(main.name, inputs)).toBe("[f1]");
    await bClient.updateTemplate({
      template: { name: footer.name, content: "f2" },
      updateMask: { paths: ["content"] },
    });
    await eventually(
      () => renderA(main.name, inputs),
      (o) => o === "[f2]",
    );
    expect(await warm(main.name, inputs)).toBe("[f2]");
    await bClient.deleteTemplateDependency({ name: dep.templateDependency?.name as string });
    // Without the partial the render fails (the template's fault: FAILED_PRECONDITION).
    await eventually(
      () => renderA(main.name, inputs),
      (o) => o === "error FailedPrecondition",
    );
  });

  it("a REQUIRES target deactivated", async () => {
    const needed = await makeTemplate(h.client);
    const t = await makeTemplate(h.client, { content: "ok" });
    await h.client.createTemplateDependency({
      parent: t.name,
      templateDependency: { requiredTemplate: needed.name, type: TemplateDependencyType.REQUIRES },
    });
    expect(await warm(t.name, inputs)).toBe("ok");
    await bClient.updateTemplate({
      template: { name: needed.name, active: false },
      updateMask: { paths: ["active"] },
    });
    await eventually(
      () => renderA(t.name, inputs),
      (o) => o === "error FailedPrecondition",
    );
  });

  it("deactivation and deletion", async () => {
    const t1 = await makeTemplate(h.client, { content: "one" });
    const t2 = await makeTemplate(h.client, { content: "two" });
    expect(await warm(t1.name, inputs)).toBe("one");
    expect(await warm(t2.name, inputs)).toBe("two");
    await bClient.updateTemplate({
      template: { name: t1.name, active: false },
      updateMask: { paths: ["active"] },
    });
    await bClient.deleteTemplate({ name: t2.name });
    await eventually(
      () => renderA(t1.name, inputs),
      (o) => o === "error FailedPrecondition",
    );
    await eventually(
      () => renderA(t2.name, inputs),
      (o) => o === "error FailedPrecondition",
    );
  });
});

describe("render-plan cache: no waiting", () => {
  it("a write through the same server is seen by its next render", async () => {
    const t = await makeTemplate(h.client, { content: "v1 {{feature_name}}" });
    expect(await warm(t.name, inputs)).toBe("v1 x");
    await h.client.updateTemplate({
      template: { name: t.name, content: "v2 {{feature_name}}" },
      updateMask: { paths: ["content"] },
    });
    expect(await renderA(t.name, inputs)).toBe("v2 x");
  });

  it("write RPCs through a server clear its cache before responding; reads and renders do not", async () => {
    const t = await makeTemplate(h.client, { content: "kept" });
    expect(await warm(t.name, inputs)).toBe("kept");
    const size = a.renderPlans.size;
    expect(size).toBeGreaterThan(0);
    await h.client.getTemplate({ name: t.name });
    await h.client.renderTemplate({ name: t.name, inputs });
    expect(a.renderPlans.size).toBe(size);
    // No trigger notifies permission changes (they are not part of a plan): only the interceptor clears.
    await h.client.grantTemplatePermission({
      parent: t.name,
      templatePermission: {
        grantee: { case: "user", value: "carol" },
        permission: TemplatePermissionLevel.READ,
      },
    });
    expect(a.renderPlans.size).toBe(0);
  });

  it("a permission revoke (through another server) takes effect on the next call", async () => {
    const t = await makeTemplate(h.client, { content: "granted" });
    await h.client.grantTemplatePermission({
      parent: t.name,
      templatePermission: {
        grantee: { case: "user", value: "bob" },
        permission: TemplatePermissionLevel.READ,
      },
    });
    const g = await h.client.grantTemplatePermission({
      parent: t.name,
      templatePermission: {
        grantee: { case: "user", value: "bob" },
        permission: TemplatePermissionLevel.EXECUTE,
      },
    });
    await listening(a.renderPlans);
    expect(await renderA(t.name, inputs, "bob")).toBe("granted");
    expect(await warm(t.name, inputs)).toBe("granted");
    await bClient.revokeTemplatePermission({ name: g.templatePermission?.name as string });
    await failure(h.as("bob").renderTemplate({ name: t.name, inputs }), Code.PermissionDenied);
  });
});

describe("RenderPlanCache while LISTEN is down", () => {
  it("bypasses the cache (every render reads), and starts empty when LISTEN is back", async () => {
    const engine = new RenderEngine();
    // Reconnect only when told to (start() after the timer): a long delay keeps it down during the test.
    const cache = new RenderPlanCache(h.orm, engine, createSchemaChecker(), { reconnectMs: 60_000 });
    try {
      const t = await makeTemplate(h.client, { content: "v1" });
      const id = t.uid;
      cache.start();
      await listening(cache);
      await cache.get(id, "");
      expect(cache.size).toBe(1);
      expect((await cache.get(id, "")).version).toBe("1.0.0");
      expect(cache.stats.hits).toBe(1);

      // Kill the cache's LISTEN connection (and A's; A reconnects on its own).
      await h.orm.em
        .getConnection()
        .execute(
          "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name like '%-template-changes' and pid <> pg_backend_pid()",
        );
      await eventually(
        async () => cache.isListening,
        (v) => !v,
      );
      expect(cache.size).toBe(0);

      const before = cache.stats.bypassed;
      expect((await cache.get(id, "")).version).toBe("1.0.0");
      await h.client.updateTemplate({
        template: { name: t.name, content: "v2" },
        updateMask: { paths: ["content"] },
      });
      // No notification can arrive: only a bypassed read sees the new version.
      const after = await cache.get(id, "");
      expect(after.version).not.toBe("1.0.0");
      expect(cache.stats.bypassed).toBe(before + 2);
      expect(cache.size).toBe(0);
    } finally {
      await cache.stop();
    }
  });

  it("reconnects by itself and caches again", async () => {
    const cache = new RenderPlanCache(h.orm, new RenderEngine(), createSchemaChecker(), { reconnectMs: 50 });
    try {
      const t = await makeTemplate(h.client, { content: "v1" });
      cache.start();
      await listening(cache);
      await cache.get(t.uid, "");
      expect(cache.size).toBe(1);
      await h.orm.em
        .getConnection()
        .execute(
          "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name like '%-template-changes' and pid <> pg_backend_pid()",
        );
      await eventually(
        async () => cache.stats.invalidations,
        () => cache.size === 0,
      );
      await listening(cache);
      expect(cache.size).toBe(0);
      await cache.get(t.uid, "");
      await cache.get(t.uid, "");
      expect(cache.size).toBe(1);
      expect(cache.stats.hits).toBeGreaterThanOrEqual(1);
    } finally {
      await cache.stop();
    }
  });

  it("a server that logs (warn) survives its LISTEN connection being terminated, and listens again", async () => {
    // The observed crash: onDown logged { err: <string> } and the logger threw inside the pg 'error'
    // listener, ending template-service. Silent loggers never ran that code; this one writes.
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const w = createServer({
      orm: h.orm,
      logger: createLogger({ service: "template-test-w", level: "warn", destination }),
    });
    const { port } = await w.listen("127.0.0.1", 0);
    const wClient = clientOf(port, "alice");
    try {
      const t = await makeTemplate(h.client, { content: "v1 {{feature_name}}" });
      await listening(w.renderPlans);
      await h.orm.em
        .getConnection()
        .execute(
          "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name like '%-template-changes' and pid <> pg_backend_pid()",
        );
      await eventually(
        async () => lines.join(""),
        (text) => text.includes("LISTEN template_changed lost"),
      );
      expect(lines.join("")).toContain("terminating connection due to administrator command");
      // Reconnected by itself (backoff from 1 s): cached renders again, and a change made through another
      // server reaches the cache by NOTIFY.
      await listening(w.renderPlans);
      const render = async () => (await wClient.renderTemplate({ name: t.name, inputs })).output;
      await eventually(
        async () => {
          const hits = w.renderPlans.stats.hits;
          await render();
          return w.renderPlans.stats.hits > hits;
        },
        (hit) => hit,
      );
      await bClient.updateTemplate({
        template: { name: t.name, content: "v2 {{feature_name}}" },
        updateMask: { paths: ["content"] },
      });
      await eventually(render, (out) => out === "v2 x");
    } finally {
      await w.shutdown(1_000);
    }
  });
});
