/** RenderTemplate end to end: real grpc-js server, real PostgreSQL, no mocks. */
import { Code, type ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import {
  TemplateDependencyType,
  TemplateReviewStatus,
} from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import { describe, expect, it } from "vitest";
import { failure, useHarness, violatedFields } from "./harness.test-util.js";
import { RenderEngine } from "./render.engine.js";
import { makeTemplate } from "./render.test-util.js";
import type { TemplateGrpcServer } from "./render.wiring.js";

const h = useHarness();

const reason = (err: ConnectError) => err.findDetails(ErrorInfoSchema)[0]?.reason;

describe("RenderTemplate", () => {
  it("renders with inputs, defaults and #each, records a usage log and updates statistics", async () => {
    const t = await makeTemplate(h.client);
    const res = await h.client.renderTemplate({
      name: t.name,
      inputs: { feature_name: "login", steps: ["design", "build"] },
      workflowId: "wf-1",
    });
    expect(res.output).toBe("Build login for ship it\n- design\n- build\n");
    expect(res.version).toBe("1.0.0");
    expect(res.usageLog).toMatch(new RegExp(`^${t.name}/usageLogs/[0-9a-f-]{36}$`));
    expect(res.renderDuration).toBeDefined();
    const logs = await h.client.listTemplateUsageLogs({ parent: t.name });
    expect(logs.templateUsageLogs).toHaveLength(1);
    expect(logs.templateUsageLogs[0]).toMatchObject({
      name: res.usageLog,
      version: "1.0.0",
      success: true,
      usedBy: "alice",
      workflowId: "wf-1",
      output: res.output,
    });
    const got = await h.client.getTemplate({ name: t.name });
    expect(got.template?.usageCount).toBe(1n);
    expect(got.template?.successRate).toBe(1);
  });

  it("queues usage logs off the request path; flushUsage writes them and updates statistics in one batch", async () => {
    const t = await makeTemplate(h.client);
    const renders = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        h.client.renderTemplate({ name: t.name, inputs: { feature_name: `f${i}` } }),
      ),
    );
    await (h.server as TemplateGrpcServer).flushUsage();
    const got = await h.client.getTemplate({ name: t.name });
    expect(got.template?.usageCount).toBe(12n);
    expect(got.template?.successRate).toBe(1);
    const logs = await h.client.listTemplateUsageLogs({ parent: t.name, pageSize: 50 });
    expect(logs.templateUsageLogs.map((l) => l.name).sort()).toEqual(renders.map((r) => r.usageLog).sort());
  });

  it("stores SQL metacharacters and unicode verbatim (HTML-escaped as Handlebars does for {{ }})", async () => {
    const t = await makeTemplate(h.client, { content: "{{{feature_name}}}|{{objective}}" });
    const nasty = "'; drop table templates; -- ✓ 日本語 \u{1F600}";
    const res = await h.client.renderTemplate({ name: t.name, inputs: { feature_name: nasty } });
    expect(res.output).toBe(`${nasty}|ship it`);
    const logs = await h.client.listTemplateUsageLogs({ parent: t.name });
    expect(logs.templateUsageLogs[0]?.inputParameters?.feature_name).toBe(nasty);
  });

  it("lists every missing and unknown variable as INVALID_ARGUMENT, or reports them when lenient", async () => {
    const t = await makeTemplate(h.client);
    const err = await failure(
      h.client.renderTemplate({ name: t.name, inputs: { bogus: 1, other: "x" } }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err).sort()).toEqual(["inputs.bogus", "inputs.feature_name", "inputs.other"]);
    expect(reason(err)).toBe("TEMPLATE_VARIABLES");
    const lenient = await h.client.renderTemplate({ name: t.name, inputs: { bogus: 1 }, lenient: true });
    expect(lenient.missingVariables).toEqual(["feature_name"]);
    expect(lenient.unknownVariables).toEqual(["bogus"]);
    // The failed render was recorded too.
    const failed = await h.client.listTemplateUsageLogs({ parent: t.name, filter: "success = false" });
    expect(failed.templateUsageLogs).toHaveLength(1);
    expect(failed.templateUsageLogs[0]?.errorMessage).toMatch(/feature_name/);
  });

  it("validates inputs against the type's JSON Schema", async () => {
    const t = await makeTemplate(h.client, {
      variables: [{ name: "objective" }, { name: "feature_name" }, { name: "output_format" }],
    });
    const err = await failure(
      h.client.renderTemplate({ name: t.name, inputs: { output_format: "pdf" } }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["inputs.output_format"]);
    expect(reason(err)).toBe("SCHEMA_VALIDATION");
  });

  it("blocks prototype access", async () => {
    const t = await makeTemplate(h.client, {
      content: "[{{feature_name.constructor}}][{{constructor.name}}][{{lookup feature_name '__proto__'}}]",
    });
    const res = await h.client.renderTemplate({ name: t.name, inputs: { feature_name: "x" } });
    expect(res.output).toBe("[][][]");
  });

  it("renders pinned versions and refuses unknown ones", async () => {
    const t = await makeTemplate(h.client);
    await h.client.updateTemplate({
      template: { name: t.name, content: "v2 {{feature_name}}" },
      updateMask: { paths: ["content"] },
    });
    expect((await h.client.renderTemplate({ name: t.name, inputs: { feature_name: "a" } })).output).toBe(
      "v2 a",
    );
    const old = await h.client.renderTemplate({
      name: t.name,
      version: "1.0.0",
      inputs: { feature_name: "a" },
    });
    expect(old.output).toBe("Build a for ship it\n");
    await failure(h.client.renderTemplate({ name: t.name, version: "9.9.9" }), Code.NotFound);
  });

  it("resolves INCLUDES dependencies as partials", async () => {
    const footer = await makeTemplate(h.client, { content: "-- {{feature_name}} footer" });
    const main = await makeTemplate(h.client, { content: "Body {{feature_name}}\n{{> foot}}" });
    await h.client.createTemplateDependency({
      parent: main.name,
      templateDependency: {
        requiredTemplate: footer.name,
        type: TemplateDependencyType.INCLUDES,
        alias: "foot",
      },
    });
    const res = await h.client.renderTemplate({ name: main.name, inputs: { feature_name: "x" } });
    expect(res.output).toBe("Body x\n-- x footer");
  });

  it("refuses unapproved versions of a template requiring approval until a review approves them", async () => {
    const t = await makeTemplate(h.client, { requiresApproval: true });
    const inputs = { feature_name: "gate" };
    // No approved version yet: neither the default nor a pinned version renders.
    const noDefault = await failure(
      h.client.renderTemplate({ name: t.name, inputs }),
      Code.FailedPrecondition,
    );
    expect(reason(noDefault)).toBe("TEMPLATE_NOT_APPROVED");
    const pinned = await failure(
      h.client.renderTemplate({ name: t.name, version: "1.0.0", inputs }),
      Code.FailedPrecondition,
    );
    expect(reason(pinned)).toBe("TEMPLATE_NOT_APPROVED");

    const review = await h.client.requestTemplateReview({
      parent: t.name,
      templateReview: { version: "1.0.0" },
    });
    await h.client.decideTemplateReview({
      name: review.templateReview?.name as string,
      decision: TemplateReviewStatus.APPROVED,
      rating: 5,
    });
    const ok = await h.client.renderTemplate({ name: t.name, inputs });
    expect(ok).toMatchObject({ version: "1.0.0", output: "Build gate for ship it\n" });
    expect((await h.client.renderTemplate({ name: t.name, version: "1.0.0", inputs })).version).toBe("1.0.0");

    // A new version is not approved by the old review: pinned, it is refused; the default stays at 1.0.0.
    const updated = await h.client.updateTemplate({
      template: { name: t.name, content: "v2 {{feature_name}}" },
      updateMask: { paths: ["content"] },
    });
    const v2 = updated.newVersion?.version as string;
    expect(v2).not.toBe("1.0.0");
    const refused = await failure(
      h.client.renderTemplate({ name: t.name, version: v2, inputs }),
      Code.FailedPrecondition,
    );
    expect(reason(refused)).toBe("TEMPLATE_NOT_APPROVED");
    expect((await h.client.renderTemplate({ name: t.name, inputs })).version).toBe("1.0.0");

    // The gate holds for partials too: pinning the unapproved version as a partial is refused.
    const main = await makeTemplate(h.client, { content: "[{{> gated}}]" });
    await h.client.createTemplateDependency({
      parent: main.name,
      templateDependency: {
        requiredTemplate: t.name,
        type: TemplateDependencyType.INCLUDES,
        alias: "gated",
        pinnedVersion: v2,
      },
    });
    const viaPartial = await failure(
      h.client.renderTemplate({ name: main.name, inputs }),
      Code.FailedPrecondition,
    );
    expect(reason(viaPartial)).toBe("TEMPLATE_NOT_APPROVED");
  });

  it("refuses bad requests with field violations", async () => {
    let err = await failure(h.client.renderTemplate({ name: "" }), Code.InvalidArgument);
    expect(violatedFields(err)).toEqual(["name"]);
    err = await failure(
      h.client.renderTemplate({
        name: "templates/not-a-uuid",
        version: "01.2.3",
        task: "tasks/x",
        workflowId: "w".repeat(256),
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err).sort()).toEqual(["name", "task", "version", "workflow_id"]);
    await failure(
      h.client.renderTemplate({ name: "templates/00000000-0000-4000-8000-000000000000" }),
      Code.NotFound,
    );
  });

  it("limits input size (RESOURCE_EXHAUSTED)", async () => {
    const t = await makeTemplate(h.client);
    const err = await failure(
      h.client.renderTemplate({ name: t.name, inputs: { feature_name: "x".repeat(300 * 1024) } }),
      Code.ResourceExhausted,
    );
    expect(reason(err)).toBe("SIZE_LIMIT_EXCEEDED");
  });

  it("limits output size (RESOURCE_EXHAUSTED) and records the failure", async () => {
    const t = await makeTemplate(h.client, {
      content: "{{#each steps}}{{#each ../steps}}0123456789abcdef{{/each}}{{/each}}",
    });
    const steps = Array.from({ length: 400 }, (_, i) => i);
    const err = await failure(
      h.client.renderTemplate({ name: t.name, inputs: { feature_name: "x", steps } }),
      Code.ResourceExhausted,
    );
    expect(reason(err)).toBe("SIZE_LIMIT_EXCEEDED");
    const failed = await h.client.listTemplateUsageLogs({ parent: t.name, filter: "success = false" });
    expect(failed.templateUsageLogs).toHaveLength(1);
  });
});

describe("RenderEngine", () => {
  it("aborts a render past its time limit (DEADLINE_EXCEEDED) and caches compiled versions", () => {
    const engine = new RenderEngine({ maxOutputChars: 1_000_000, maxRenderMs: 50 }, 2);
    const src = {
      templateId: "t",
      version: "1.0.0",
      content: "{{#each a}}{{#each ../a}}{{#each ../../a}}{{/each}}{{/each}}{{/each}}",
    };
    const render = (source: typeof src, context: Record<string, unknown>) =>
      engine.renderCompiled(engine.compiled(source), {}, context);
    const a = Array.from({ length: 1000 }, (_, i) => i);
    expect(() => render(src, { a })).toThrow(/render time limit/);
    expect(render({ ...src, content: "hi {{x}}" }, { x: 1 })).toBe("hi 1");
    render({ ...src, version: "1.0.1", content: "a" }, {});
    render({ ...src, version: "1.0.2", content: "b" }, {});
    expect(engine.cachedTemplates).toBe(2);
  });
});
