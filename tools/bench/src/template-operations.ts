/**
 * The TemplateService benchmark's template, caller identity and operations. The template content and the
 * render inputs live here so the floor server (template-floor-server.ts) compiles and renders exactly what the
 * service renders.
 */
import { create, type JsonObject, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import type { TemplateSchema } from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import {
  GetTemplateRequestSchema,
  RenderTemplateRequestSchema,
  TemplateService,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import type { Operation } from "./operations.js";

/** The caller the load generator sends as request metadata; it creates (and so owns) the templates. */
export const BENCH_ACTOR = "user:bench-template-owner";
export const BENCH_ROLES = "developer";
export const benchMetadata: Readonly<Record<string, string>> = {
  "x-taskmaster-actor": BENCH_ACTOR,
  "x-taskmaster-roles": BENCH_ROLES,
};

/** A realistic agent prompt (seed style): scalars, defaults, `{{#each}}` over strings and objects, `{{#if}}`. */
export const BENCH_TEMPLATE_CONTENT = `# Implement {{feature_name}}

Objective: {{objective}}
{{#if context}}
Context: {{context}}
{{/if}}

## Steps
{{#each steps}}
{{@index}}. {{this}}
{{/each}}

## Acceptance criteria
{{#each criteria}}
- [ ] {{title}}{{#if detail}}: {{detail}}{{/if}}
{{/each}}

## Constraints
{{#each constraints}}
- {{this}}
{{/each}}
Output format: {{output_format}}
`;

export const BENCH_TEMPLATE_VARIABLES = [
  { name: "feature_name", required: true },
  { name: "objective", defaultValue: { kind: { case: "stringValue" as const, value: "ship it" } } },
  { name: "context" },
  { name: "steps", required: true },
  { name: "criteria" },
  { name: "constraints" },
  { name: "output_format", defaultValue: { kind: { case: "stringValue" as const, value: "markdown" } } },
];

/** Template parameters: they are the render context's base (then defaults, then inputs), as in the service. */
export const BENCH_TEMPLATE_PARAMETERS: JsonObject = { objective: "ship it", output_format: "markdown" };

/** The template draft CreateTemplate receives (the slug must be unique, so it is passed in). */
export function benchTemplateDraft(slug: string): Omit<MessageInitShape<typeof TemplateSchema>, "$typeName"> {
  return {
    slug,
    title: "Benchmark prompt template",
    description: "Created by ./taskmaster bench templates",
    templateType: "templateTypes/prompt_instruction",
    content: BENCH_TEMPLATE_CONTENT,
    variables: BENCH_TEMPLATE_VARIABLES,
    parameters: BENCH_TEMPLATE_PARAMETERS,
    tags: ["bench"],
    active: true,
  };
}

/** Render inputs: `count` distinct sets (~0.7 KB of output each). */
export function benchInputs(count: number): JsonObject[] {
  return Array.from({ length: count }, (_, i) => ({
    feature_name: `billing export v${i}`,
    context: `Customers on plan ${i % 7} need monthly CSV exports of their invoices & credit notes.`,
    steps: [
      "Read the existing export module",
      "Add the CSV writer with streaming output",
      "Wire the <ExportButton> into the billing page",
      "Cover edge cases: empty months, refunds, currency rounding",
      "Document the endpoint",
      `Ship behind flag export_${i}`,
    ],
    criteria: [
      { title: "Exports match the ledger", detail: "totals equal to the cent" },
      { title: "Large accounts", detail: "100k invoices stream in under 10 s" },
      { title: "Audit entry written", detail: "" },
    ],
    constraints: ["No new dependencies", "Keep the public API unchanged", "Tests first"],
  }));
}

const path = (method: string) => `/${TemplateService.typeName}/${method}`;

/** RenderTemplate of `renderId` and GetTemplate of `getId`, both with a floor. */
export function templateOperations(
  renderId: string,
  getId: string,
  inputs: readonly JsonObject[],
): Operation[] {
  return [
    {
      name: "GetTemplate",
      path: path("GetTemplate"),
      requests: [
        toBinary(GetTemplateRequestSchema, create(GetTemplateRequestSchema, { name: `templates/${getId}` })),
      ],
      hasFloor: true,
    },
    {
      name: "RenderTemplate",
      path: path("RenderTemplate"),
      requests: inputs.map((input) =>
        toBinary(
          RenderTemplateRequestSchema,
          create(RenderTemplateRequestSchema, { name: `templates/${renderId}`, inputs: input }),
        ),
      ),
      target: 0.6,
      hasFloor: true,
    },
  ];
}
