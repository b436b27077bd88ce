/**
 * Every TemplateService RPC with a `filter` request field (found from the descriptor) refuses an unknown
 * field and a malformed expression with INVALID_ARGUMENT naming `filter`.
 */
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { expectFilterRejected, methodsWithFilter } from "@taskmaster/testing/list-filter-contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./harness.test-util.js";

let harness: Harness;
/** Request fields a method needs to get as far as its filter: the parent template. */
let parent: Record<string, unknown> = {};

beforeAll(async () => {
  harness = await startHarness();
  const created = await harness.client.createTemplate({
    template: {
      slug: "filter_contract",
      title: "Filter contract",
      content: "Hello",
      templateType: "templateTypes/prompt_instruction",
      variables: [{ name: "objective", required: true }],
      parameters: { objective: "check filters" },
    },
  });
  parent = { parent: created.template?.name };
});

afterAll(async () => {
  await harness?.close();
});

const methods = methodsWithFilter(TemplateService);

describe("TemplateService filter contract", () => {
  it("finds the RPCs with a filter field", () => {
    expect(methods.map((m) => m.name)).toContain("ListTemplates");
  });

  for (const method of methods) {
    it(`${method.name} refuses an unknown field and malformed expressions naming filter`, async () => {
      const init = method.input.fields.some((f) => f.name === "parent") ? parent : {};
      await expectFilterRejected(harness.admin, method, init);
    });
  }
});
