/**
 * Issue 12, templates as a new user meets them: a slug is an alias of the template's name on every RPC
 * that takes one (derived from the descriptors), a new template is usable at once, and a parameter the
 * type's JSON Schema requires is named in the error. Real grpc-js server, real PostgreSQL.
 */
import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { create, getOption, hasOption } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { resource, resource_reference } from "@taskmaster/proto/gen/google/api/resource_pb";
import {
  file_taskmaster_template_v1_template_service,
  TemplateService,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { describe, expect, it } from "vitest";
import { failure, uniq, useHarness, violatedFields } from "./harness.test-util.js";

const h = useHarness();

const draft = (slug: string) => ({
  slug,
  title: "Implement a feature",
  templateType: "templateTypes/prompt_instruction",
  content: "Build {{objective}}",
  variables: [{ name: "objective", required: true }],
  parameters: { objective: "ship it" },
});

/** Resource type -> pattern, from every message with a google.api.resource option in the template package. */
function resourcePatterns(): Map<string, string> {
  const out = new Map<string, string>();
  const files = [
    file_taskmaster_template_v1_template_service,
    ...file_taskmaster_template_v1_template_service.dependencies,
  ];
  for (const file of files) {
    for (const msg of file.messages) {
      if (hasOption(msg, resource)) {
        const r = getOption(msg, resource);
        if (r.pattern[0]) out.set(r.type, r.pattern[0]);
      }
    }
  }
  return out;
}

/** Top-level string fields of a request that reference a template or one of its sub-resources. */
function templateNameFields(
  input: DescMessage,
  patterns: Map<string, string>,
): { field: DescField; pattern: string }[] {
  return input.fields.flatMap((field) => {
    if (field.fieldKind !== "scalar" || !hasOption(field, resource_reference)) return [];
    const ref = getOption(field, resource_reference);
    const pattern = patterns.get(ref.type) ?? patterns.get(ref.childType);
    return pattern?.startsWith("templates/{template}") ? [{ field, pattern }] : [];
  });
}

function fill(pattern: string, template: string): string {
  return pattern
    .replace("{template}", template)
    .replace("{version}", "1.0.0")
    .replace(/\{[a-z_]+\}/g, "00000000-0000-4000-8000-000000000000");
}

async function outcome(
  p: Promise<unknown>,
): Promise<{ code: Code | "ok"; fields: string[]; message: string }> {
  try {
    await p;
    return { code: "ok", fields: [], message: "" };
  } catch (e) {
    const err = ConnectError.from(e);
    return { code: err.code, fields: violatedFields(err).sort(), message: err.rawMessage };
  }
}

describe("a template slug is an alias of its name", () => {
  it("answers every RPC taking a template name the same for templates/<slug> as for templates/<uuid>", async () => {
    const patterns = resourcePatterns();
    const methods = TemplateService.methods.filter(
      (m) => m.methodKind === "unary" && templateNameFields(m.input, patterns).length > 0,
    );
    // Every template-scoped RPC is covered (a new one joins automatically).
    expect(methods.map((m) => m.name)).toEqual(
      expect.arrayContaining([
        "GetTemplate",
        "RenderTemplate",
        "CreateTaskFromTemplate",
        "LogTemplateUsage",
        "ListTemplateVersions",
      ]),
    );
    // Two identical templates: the UUID form goes to one, the slug form to the other, so writes do not interfere.
    const viaId = (await h.admin.createTemplate({ template: draft(uniq("by_id")) })).template;
    const slug = uniq("by_slug");
    const viaSlug = (await h.admin.createTemplate({ template: draft(slug) })).template;
    expect(viaId && viaSlug).toBeTruthy();
    const call = (name: string, req: unknown) =>
      (h.admin as unknown as Record<string, (r: unknown) => Promise<unknown>>)[
        name.charAt(0).toLowerCase() + name.slice(1)
      ]?.(req) as Promise<unknown>;
    for (const m of methods) {
      for (const { field, pattern } of templateNameFields(m.input, patterns)) {
        const byId = create(m.input, { [field.localName]: fill(pattern, viaId?.uid ?? "") } as never);
        const bySlug = create(m.input, { [field.localName]: fill(pattern, slug) } as never);
        const a = await outcome(call(m.name, byId));
        const b = await outcome(call(m.name, bySlug));
        expect({ method: m.name, field: field.name, code: b.code, fields: b.fields }).toEqual({
          method: m.name,
          field: field.name,
          code: a.code,
          fields: a.fields,
        });
        expect(b.message, `${m.name}.${field.name}`).not.toMatch(/is a UUID/);
      }
    }
  });

  it("reads and renders by slug, answers canonical names, and NOT_FOUND names an unknown slug", async () => {
    const slug = uniq("alias");
    const made = (await h.client.createTemplate({ template: draft(slug) })).template;
    const got = (await h.client.getTemplate({ name: `templates/${slug}` })).template;
    expect(got?.name).toBe(made?.name);
    const rendered = await h.client.renderTemplate({ name: `templates/${slug}`, inputs: { objective: "x" } });
    expect(rendered.output).toBe("Build x");
    const versions = await h.client.getTemplateVersion({ name: `templates/${slug}/versions/1.0.0` });
    expect(versions.templateVersion?.name).toBe(`${made?.name}/versions/1.0.0`);
    const err = await failure(h.client.getTemplate({ name: "templates/no_such_template" }), Code.NotFound);
    expect(err.rawMessage).toContain("templates/no_such_template");
  });
});

describe("a new template is usable at once", () => {
  it("is active when `active` is unset: an active search finds it and it renders", async () => {
    const slug = uniq("fresh");
    const made = (await h.client.createTemplate({ template: { ...draft(slug), tags: [slug] } })).template;
    expect(made?.active).toBe(true);
    const found = await h.client.searchTemplates({ query: "", tags: [slug], active: true });
    expect(found.results.map((r) => r.template?.name)).toEqual([made?.name]);
    const rendered = await h.client.renderTemplate({ name: made?.name ?? "", inputs: { objective: "y" } });
    expect(rendered.output).toBe("Build y");
  });

  it("stays inactive when created with active: false", async () => {
    const made = (await h.client.createTemplate({ template: { ...draft(uniq("off")), active: false } }))
      .template;
    expect(made?.active).toBe(false);
    await failure(
      h.client.renderTemplate({ name: made?.name ?? "", inputs: { objective: "z" } }),
      Code.FailedPrecondition,
    );
  });
});

describe("a type's required parameters are named", () => {
  it("names parameters.title for templateTypes/task_template", async () => {
    const err = await failure(
      h.client.createTemplate({
        template: { ...draft(uniq("task")), templateType: "templateTypes/task_template", parameters: {} },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toContain("template.parameters.title");
  });
});
