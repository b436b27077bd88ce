/** Template types end to end over a real socket and PostgreSQL. */
import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { BuiltinTemplateType } from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import { describe, expect, it } from "vitest";
import { failure, useHarness, violatedFields } from "./harness.test-util.js";

const h = useHarness();

const typeId = () => `t_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
const SCHEMA = JSON.stringify({
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  properties: { size: { type: "integer", minimum: 1 } },
  required: ["size"],
});

describe("template types", () => {
  it("lists the nine seeded built-in types", async () => {
    const res = await h.client.listTemplateTypes({ filter: "builtin = true", pageSize: 100 });
    expect(res.templateTypes).toHaveLength(9);
    const task = await h.client.getTemplateType({ name: "templateTypes/task_template" });
    expect(task.templateType?.builtin).toBe(BuiltinTemplateType.TASK_TEMPLATE);
    expect(JSON.parse(task.templateType?.jsonSchema ?? "{}").required).toEqual(["title"]);
    const p1 = await h.client.listTemplateTypes({ filter: "builtin = true", pageSize: 5 });
    const p2 = await h.client.listTemplateTypes({
      filter: "builtin = true",
      pageSize: 5,
      pageToken: p1.nextPageToken,
    });
    expect(p1.templateTypes.length + p2.templateTypes.length).toBe(9);
    expect(p2.nextPageToken).toBe("");
  });

  it("requires the platform admin role to create, update and delete types", async () => {
    const id = typeId();
    const err = await failure(
      h.client.createTemplateType({ templateTypeId: id, templateType: { displayName: "No", active: true } }),
      Code.PermissionDenied,
    );
    expect(err.rawMessage).toMatch(/admin/);
    await failure(
      h.client.updateTemplateType({
        templateType: { name: "templateTypes/task_template", displayName: "x" },
        updateMask: { paths: ["display_name"] },
      }),
      Code.PermissionDenied,
    );
    await failure(
      h.client.deleteTemplateType({ name: "templateTypes/task_template" }),
      Code.PermissionDenied,
    );
    await failure(h.client.getTemplateType({ name: `templateTypes/${id}` }), Code.NotFound);
  });

  it("creates, validates templates against, updates and deletes a custom type", async () => {
    const id = typeId();
    const created = await h.admin.createTemplateType({
      templateTypeId: id,
      templateType: {
        displayName: "Sized — ünï 'x'",
        jsonSchema: SCHEMA,
        validationRules: { max_content_bytes: 100 },
        active: true,
      },
    });
    expect(created.templateType?.name).toBe(`templateTypes/${id}`);
    expect(created.templateType?.builtin).toBe(BuiltinTemplateType.UNSPECIFIED);
    expect(created.templateType?.displayName).toBe("Sized — ünï 'x'");
    await failure(
      h.admin.createTemplateType({ templateTypeId: id, templateType: { displayName: "dup", active: true } }),
      Code.AlreadyExists,
    );
    // Templates of the type must satisfy its schema and rules.
    const bad = await failure(
      h.client.createTemplate({
        template: {
          slug: `s_${id}`,
          title: "t",
          templateType: `templateTypes/${id}`,
          content: "x",
          parameters: { size: 0 },
        },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(bad)).toContain("template.parameters.size");
    const tooBig = await failure(
      h.client.createTemplate({
        template: {
          slug: `b_${id}`,
          title: "t",
          templateType: `templateTypes/${id}`,
          content: "y".repeat(101),
          parameters: { size: 1 },
        },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(tooBig)).toEqual(["template.content"]);
    const tpl = await h.client.createTemplate({
      template: {
        slug: `ok_${id}`,
        title: "t",
        templateType: `templateTypes/${id}`,
        content: "x",
        parameters: { size: 3 },
      },
    });
    expect(
      (await h.client.getTemplateType({ name: `templateTypes/${id}` })).templateType?.templateCount,
    ).toBe(1);

    // A stricter schema the template violates: FAILED_PRECONDITION unless allowed.
    const stricter = JSON.stringify({
      type: "object",
      properties: { size: { type: "integer", minimum: 5 } },
    });
    await failure(
      h.admin.updateTemplateType({
        templateType: { name: `templateTypes/${id}`, jsonSchema: stricter },
        updateMask: { paths: ["json_schema"] },
      }),
      Code.FailedPrecondition,
    );
    const allowed = await h.admin.updateTemplateType({
      templateType: {
        name: `templateTypes/${id}`,
        jsonSchema: stricter,
        etag: created.templateType?.etag ?? "",
      },
      updateMask: { paths: ["json_schema"] },
      allowInvalidTemplates: true,
    });
    expect(allowed.invalidTemplates).toEqual([tpl.template?.name]);
    await failure(
      h.admin.updateTemplateType({
        templateType: {
          name: `templateTypes/${id}`,
          displayName: "x",
          etag: created.templateType?.etag ?? "",
        },
        updateMask: { paths: ["display_name"] },
      }),
      Code.Aborted,
    );
    // In use: cannot delete.
    await failure(h.admin.deleteTemplateType({ name: `templateTypes/${id}` }), Code.FailedPrecondition);
    await failure(
      h.admin.deleteTemplateType({ name: "templateTypes/task_template" }),
      Code.FailedPrecondition,
    );

    const other = typeId();
    const o = await h.admin.createTemplateType({
      templateTypeId: other,
      templateType: { displayName: "tmp", active: true },
    });
    expect(o.templateType?.jsonSchema).toBe("{}");
    await failure(
      h.admin.deleteTemplateType({ name: `templateTypes/${other}`, etag: 'W/"9"' }),
      Code.Aborted,
    );
    await h.admin.deleteTemplateType({ name: `templateTypes/${other}` });
    await failure(h.client.getTemplateType({ name: `templateTypes/${other}` }), Code.NotFound);
  });

  it("refuses invalid schemas, ids and fields", async () => {
    const err = await failure(
      h.admin.createTemplateType({
        templateTypeId: "Bad-Id",
        templateType: {
          displayName: "",
          jsonSchema: JSON.stringify({ type: "nope" }),
          description: "d".repeat(2001),
        },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(
      expect.arrayContaining([
        "template_type_id",
        "template_type.display_name",
        "template_type.json_schema",
        "template_type.description",
      ]),
    );
    const notJson = await failure(
      h.admin.createTemplateType({
        templateTypeId: typeId(),
        templateType: { displayName: "x", jsonSchema: "{oops" },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(notJson)).toEqual(["template_type.json_schema"]);
    const arr = await failure(
      h.admin.createTemplateType({
        templateTypeId: typeId(),
        templateType: { displayName: "x", jsonSchema: "[]" },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(arr)).toEqual(["template_type.json_schema"]);
    const vo = await h.admin.createTemplateType({
      templateTypeId: typeId(),
      templateType: { displayName: "x", jsonSchema: SCHEMA },
      validateOnly: true,
    });
    expect(vo.templateType?.etag).toBe("");
    await failure(h.client.getTemplateType({ name: "templateTypes/X" }), Code.InvalidArgument);
    await failure(h.client.getTemplateType({ name: "templateTypes/no_such_type" }), Code.NotFound);
    await failure(h.client.listTemplateTypes({ pageSize: -1 }), Code.InvalidArgument);
    await failure(h.client.listTemplateTypes({ filter: "builtin = maybe" }), Code.InvalidArgument);
    const mask = await failure(
      h.admin.updateTemplateType({
        templateType: { name: "templateTypes/task_template" },
        updateMask: { paths: ["builtin"] },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(mask)).toEqual(["update_mask"]);
  });
});
