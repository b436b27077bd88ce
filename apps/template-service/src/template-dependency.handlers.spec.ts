/** Template dependencies end to end: CRUD, cycle refusal with CycleDetail, partial resolution. */
import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { CycleDetailSchema } from "@taskmaster/proto/gen/taskmaster/common/v1/errors_pb";
import { TemplateDependencyType } from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import { describe, expect, it } from "vitest";
import { failure, useHarness, violatedFields } from "./harness.test-util.js";
import { makeTemplate } from "./render.test-util.js";

const h = useHarness();

const INCLUDES = TemplateDependencyType.INCLUDES;
const UNKNOWN = "templates/00000000-0000-4000-8000-000000000000";

describe("Create/Get/List/DeleteTemplateDependency", () => {
  it("creates, reads, lists (both directions, filtered, paged) and deletes", async () => {
    const a = await makeTemplate(h.client);
    const b = await makeTemplate(h.client);
    const c = await makeTemplate(h.client);
    const requestId = randomUUID();
    const d1 = (
      await h.client.createTemplateDependency({
        parent: a.name,
        templateDependency: { requiredTemplate: b.name, type: INCLUDES },
        requestId,
      })
    ).templateDependency;
    expect(d1?.name).toMatch(new RegExp(`^${a.name}/dependencies/[0-9a-f-]{36}$`));
    expect(d1?.alias).toBe(b.slug);
    const again = await h.client.createTemplateDependency({
      parent: a.name,
      templateDependency: { requiredTemplate: b.name, type: INCLUDES },
      requestId,
    });
    expect(again.templateDependency?.name).toBe(d1?.name);
    await h.client.createTemplateDependency({
      parent: a.name,
      templateDependency: {
        requiredTemplate: c.name,
        type: TemplateDependencyType.SUGGESTS,
        pinnedVersion: "1.0.0",
      },
    });
    expect((await h.client.getTemplateDependency({ name: d1?.name ?? "" })).templateDependency).toEqual(d1);
    const p1 = await h.client.listTemplateDependencies({ parent: a.name, pageSize: 1 });
    expect(p1.templateDependencies).toHaveLength(1);
    const p2 = await h.client.listTemplateDependencies({
      parent: a.name,
      pageSize: 1,
      pageToken: p1.nextPageToken,
    });
    expect(p2.templateDependencies[0]?.pinnedVersion).toBe("1.0.0");
    const filtered = await h.client.listTemplateDependencies({ parent: a.name, filter: 'type = "SUGGESTS"' });
    expect(filtered.templateDependencies.map((d) => d.requiredTemplate)).toEqual([c.name]);
    const reverse = await h.client.listTemplateDependencies({ parent: b.name, reverse: true });
    expect(reverse.templateDependencies.map((d) => d.name)).toEqual([d1?.name]);
    await h.client.deleteTemplateDependency({ name: d1?.name ?? "" });
    await failure(h.client.getTemplateDependency({ name: d1?.name ?? "" }), Code.NotFound);
    await failure(h.client.deleteTemplateDependency({ name: d1?.name ?? "" }), Code.NotFound);
  });

  it("refuses INCLUDES/EXTENDS cycles with a CycleDetail naming the path (validate_only too)", async () => {
    const a = await makeTemplate(h.client);
    const b = await makeTemplate(h.client);
    const c = await makeTemplate(h.client);
    await h.client.createTemplateDependency({
      parent: a.name,
      templateDependency: { requiredTemplate: b.name, type: INCLUDES },
    });
    await h.client.createTemplateDependency({
      parent: b.name,
      templateDependency: { requiredTemplate: c.name, type: TemplateDependencyType.EXTENDS },
    });
    for (const validateOnly of [true, false]) {
      const err = await failure(
        h.client.createTemplateDependency({
          parent: c.name,
          templateDependency: { requiredTemplate: a.name, type: INCLUDES },
          validateOnly,
        }),
        Code.FailedPrecondition,
      );
      const detail = err.findDetails(CycleDetailSchema)[0];
      expect(detail?.path).toEqual([c.name, a.name, b.name, c.name]);
      expect(detail?.link).toBe("TEMPLATE_DEPENDENCY_TYPE_INCLUDES");
    }
    // REQUIRES/SUGGESTS may point back.
    await h.client.createTemplateDependency({
      parent: c.name,
      templateDependency: { requiredTemplate: a.name, type: TemplateDependencyType.REQUIRES },
    });
  });

  it("refuses duplicates, clashing aliases, self-dependencies and bad fields", async () => {
    const a = await makeTemplate(h.client);
    const b = await makeTemplate(h.client);
    const c = await makeTemplate(h.client);
    await h.client.createTemplateDependency({
      parent: a.name,
      templateDependency: { requiredTemplate: b.name, type: INCLUDES, alias: "part" },
    });
    await failure(
      h.client.createTemplateDependency({
        parent: a.name,
        templateDependency: { requiredTemplate: b.name, type: INCLUDES },
      }),
      Code.AlreadyExists,
    );
    await failure(
      h.client.createTemplateDependency({
        parent: a.name,
        templateDependency: { requiredTemplate: c.name, type: INCLUDES, alias: "part" },
      }),
      Code.AlreadyExists,
    );
    let err = await failure(
      h.client.createTemplateDependency({
        parent: a.name,
        templateDependency: { requiredTemplate: a.name, type: INCLUDES },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["template_dependency.required_template"]);
    err = await failure(
      h.client.createTemplateDependency({
        parent: "templates/nope",
        requestId: "x",
        templateDependency: {
          requiredTemplate: "",
          type: 99 as TemplateDependencyType,
          pinnedVersion: "1.2",
          alias: "9bad",
        },
      }),
      Code.InvalidArgument,
    );
    // The unknown enum number is refused by the request check (rpc-kit request-check.ts) before anything
    // else runs (the slug lookup of "templates/nope" would answer NOT_FOUND first otherwise).
    expect(violatedFields(err)).toEqual(["template_dependency.type"]);
    err = await failure(h.client.createTemplateDependency({ parent: a.name }), Code.InvalidArgument);
    expect(violatedFields(err)).toEqual(["template_dependency"]);
    err = await failure(
      h.client.createTemplateDependency({
        parent: a.name,
        templateDependency: { requiredTemplate: c.name, type: INCLUDES, pinnedVersion: "4.0.0" },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["template_dependency.pinned_version"]);
    await failure(
      h.client.createTemplateDependency({
        parent: UNKNOWN,
        templateDependency: { requiredTemplate: b.name, type: INCLUDES },
      }),
      Code.NotFound,
    );
    err = await failure(
      h.client.getTemplateDependency({ name: `${a.name}/dependencies/x` }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["name"]);
    // Unbalanced quotes, a second comparison and != are no `type = X` filter.
    for (const filter of [
      "type = BOGUS",
      'type = "INCLUDES',
      'type = INCLUDES"',
      "type = INCLUDES AND type = EXTENDS",
      "type != INCLUDES",
    ]) {
      err = await failure(
        h.client.listTemplateDependencies({ parent: a.name, filter }),
        Code.InvalidArgument,
      );
      expect(violatedFields(err)).toEqual(["filter"]);
    }
    err = await failure(
      h.client.listTemplateDependencies({ parent: "templates/x", pageSize: -1, filter: "type = BOGUS" }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["parent", "page_size", "filter"]);
    for (const filter of [
      "type=includes",
      "  type = TEMPLATE_DEPENDENCY_TYPE_INCLUDES ",
      'type = "extends"',
      "",
    ]) {
      await h.client.listTemplateDependencies({ parent: a.name, filter });
    }
    err = await failure(
      h.client.listTemplateDependencies({ parent: a.name, pageToken: "zzz" }),
      Code.InvalidArgument,
    );
    expect(violatedFields(err)).toEqual(["page_token"]);
  });

  it("renders a pinned partial at its pinned version and refuses when a required template is inactive", async () => {
    const part = await makeTemplate(h.client, { content: "old {{feature_name}}" });
    await h.client.updateTemplate({
      template: { name: part.name, content: "new {{feature_name}}" },
      updateMask: { paths: ["content"] },
    });
    const main = await makeTemplate(h.client, { content: "[{{> p}}]" });
    await h.client.createTemplateDependency({
      parent: main.name,
      templateDependency: { requiredTemplate: part.name, type: INCLUDES, alias: "p", pinnedVersion: "1.0.0" },
    });
    expect((await h.client.renderTemplate({ name: main.name, inputs: { feature_name: "x" } })).output).toBe(
      "[old x]",
    );
    const req = await makeTemplate(h.client);
    await h.client.createTemplateDependency({
      parent: main.name,
      templateDependency: { requiredTemplate: req.name, type: TemplateDependencyType.REQUIRES },
    });
    await h.client.updateTemplate({
      template: { name: req.name, active: false },
      updateMask: { paths: ["active"] },
    });
    await failure(
      h.client.renderTemplate({ name: main.name, inputs: { feature_name: "x" } }),
      Code.FailedPrecondition,
    );
  });
});
