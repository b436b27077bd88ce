/** Spec helpers of the rendering/usage/dependency specs: template drafts and creation. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type { Template, TemplateSchema } from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import type { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { uniq } from "./harness.test-util.js";

export type TemplateInit = Omit<MessageInitShape<typeof TemplateSchema>, "$typeName">;

/** A prompt template: `feature_name` required, `objective` defaulted, `steps` optional. */
export function promptDraft(over: TemplateInit = {}): TemplateInit {
  return {
    slug: uniq("rnd"),
    title: "Render me",
    templateType: "templateTypes/prompt_instruction",
    content: "Build {{feature_name}} for {{objective}}\n{{#each steps}}- {{this}}\n{{/each}}",
    variables: [
      { name: "objective", defaultValue: { kind: { case: "stringValue", value: "ship it" } } },
      { name: "feature_name", required: true },
      { name: "steps" },
    ],
    parameters: { objective: "ship it" },
    active: true,
    ...over,
  };
}

export async function makeTemplate(
  client: Client<typeof TemplateService>,
  over: TemplateInit = {},
): Promise<Template & { id: string }> {
  const res = await client.createTemplate({ template: promptDraft(over) });
  if (!res.template) throw new Error("no template");
  return Object.assign(res.template, { id: res.template.uid });
}
