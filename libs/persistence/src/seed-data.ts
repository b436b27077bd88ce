import type { TaskComplexity, TaskPriority, TaskStatus, TaskType, TemplateTypeName } from "./value-sets.js";

const stringList = { type: "array", items: { type: "string", minLength: 1 } } as const;

function schema(
  title: string,
  properties: Record<string, unknown>,
  required: string[],
): Record<string, unknown> {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title,
    type: "object",
    properties,
    required,
    additionalProperties: true,
  };
}

/** The nine upstream template types, each with a JSON Schema (draft 2020-12) for template parameters. */
export const SEED_TEMPLATE_TYPES: {
  name: TemplateTypeName;
  displayName: string;
  description: string;
  jsonSchema: Record<string, unknown>;
  validationRules: Record<string, unknown>;
}[] = [
  {
    name: "prompt_instruction",
    displayName: "Prompt instruction",
    description: "Instructions given to an AI agent to carry out a piece of work.",
    jsonSchema: schema(
      "Prompt instruction parameters",
      {
        objective: { type: "string", minLength: 1 },
        context: { type: "string" },
        constraints: stringList,
        output_format: { type: "string", enum: ["markdown", "json", "code", "text"] },
      },
      ["objective"],
    ),
    validationRules: { maxContentLength: 50000, requiredVariables: ["objective"] },
  },
  {
    name: "task_template",
    displayName: "Task template",
    description: "Blueprint for creating a task with its fields pre-filled.",
    jsonSchema: schema(
      "Task template parameters",
      {
        title: { type: "string", minLength: 5, maxLength: 255 },
        type: { type: "string" },
        priority: { type: "string", enum: ["critical", "high", "medium", "low", "backlog"] },
        acceptance_criteria: stringList,
        story_points: { type: "integer", minimum: 0, maximum: 100 },
      },
      ["title"],
    ),
    validationRules: { createsTask: true },
  },
  {
    name: "workflow_template",
    displayName: "Workflow template",
    description: "Ordered steps of a multi-stage workflow.",
    jsonSchema: schema(
      "Workflow template parameters",
      {
        steps: {
          type: "array",
          minItems: 1,
          items: {
            type: "object",
            properties: { name: { type: "string" }, action: { type: "string" } },
            required: ["name", "action"],
          },
        },
        on_failure: { type: "string", enum: ["stop", "continue", "rollback"] },
      },
      ["steps"],
    ),
    validationRules: { maxSteps: 50 },
  },
  {
    name: "validation_template",
    displayName: "Validation template",
    description: "Checks to run against a deliverable (code, config, document).",
    jsonSchema: schema(
      "Validation template parameters",
      {
        target: { type: "string" },
        rules: stringList,
        severity: { type: "string", enum: ["info", "warning", "error"] },
      },
      ["target", "rules"],
    ),
    validationRules: {},
  },
  {
    name: "deployment_script",
    displayName: "Deployment script",
    description: "Script that deploys a service to an environment.",
    jsonSchema: schema(
      "Deployment script parameters",
      {
        service: { type: "string", minLength: 1 },
        environment: { type: "string", enum: ["development", "staging", "production"] },
        version: { type: "string" },
        strategy: { type: "string", enum: ["rolling", "blue_green", "canary", "recreate"] },
      },
      ["service", "environment"],
    ),
    validationRules: { requiresApprovalFor: ["production"] },
  },
  {
    name: "configuration_template",
    displayName: "Configuration template",
    description: "Configuration file with placeholders per environment.",
    jsonSchema: schema(
      "Configuration template parameters",
      {
        format: { type: "string", enum: ["yaml", "json", "toml", "env", "ini"] },
        values: { type: "object" },
      },
      ["format"],
    ),
    validationRules: {},
  },
  {
    name: "code_snippet",
    displayName: "Code snippet",
    description: "Reusable piece of code in a given language.",
    jsonSchema: schema(
      "Code snippet parameters",
      { language: { type: "string", minLength: 1 }, name: { type: "string" }, imports: stringList },
      ["language"],
    ),
    validationRules: {},
  },
  {
    name: "documentation_template",
    displayName: "Documentation template",
    description: "Skeleton of a document (README, ADR, runbook).",
    jsonSchema: schema(
      "Documentation template parameters",
      { title: { type: "string", minLength: 1 }, audience: { type: "string" }, sections: stringList },
      ["title"],
    ),
    validationRules: {},
  },
  {
    name: "test_template",
    displayName: "Test template",
    description: "Test case or suite skeleton.",
    jsonSchema: schema(
      "Test template parameters",
      {
        subject: { type: "string", minLength: 1 },
        framework: { type: "string" },
        cases: { type: "array", items: { type: "object", properties: { name: { type: "string" } } } },
      },
      ["subject"],
    ),
    validationRules: {},
  },
];

/** Category tree (parent by name; `null` for roots), in creation order. */
export const SEED_TEMPLATE_CATEGORIES: {
  name: string;
  parent: string | null;
  description: string;
  sortOrder: number;
}[] = [
  { name: "Development", parent: null, description: "Building software", sortOrder: 10 },
  { name: "Frontend", parent: "Development", description: "UI and client code", sortOrder: 10 },
  { name: "Backend", parent: "Development", description: "Services and APIs", sortOrder: 20 },
  { name: "Database", parent: "Development", description: "Schemas, migrations, queries", sortOrder: 30 },
  { name: "Testing", parent: null, description: "Quality assurance", sortOrder: 20 },
  { name: "Unit Testing", parent: "Testing", description: "Unit tests", sortOrder: 10 },
  {
    name: "Integration Testing",
    parent: "Testing",
    description: "Integration and end-to-end tests",
    sortOrder: 20,
  },
  { name: "DevOps", parent: null, description: "Build, deploy and operate", sortOrder: 30 },
  { name: "CI/CD", parent: "DevOps", description: "Pipelines", sortOrder: 10 },
  { name: "Infrastructure", parent: "DevOps", description: "Infrastructure as code", sortOrder: 20 },
  { name: "Monitoring", parent: "DevOps", description: "Observability and alerting", sortOrder: 30 },
  { name: "Documentation", parent: null, description: "Docs and knowledge", sortOrder: 40 },
  { name: "AI Prompts", parent: null, description: "Prompts and instructions for agents", sortOrder: 50 },
  { name: "Code Generation", parent: "AI Prompts", description: "Prompts that produce code", sortOrder: 10 },
  { name: "Code Review", parent: "AI Prompts", description: "Prompts that review changes", sortOrder: 20 },
  { name: "Security", parent: null, description: "Security reviews and hardening", sortOrder: 60 },
];

export interface SeedTask {
  /** Stable key, stored as `external_id` = `seed:<key>` so re-seeding finds it. */
  key: string;
  parent?: string;
  title: string;
  type: TaskType;
  status: TaskStatus;
  priority: TaskPriority;
  complexity: TaskComplexity;
  storyPoints?: number;
  assignedTo?: string;
  labels?: string[];
  description?: string;
  inSprint?: boolean;
  estimatedHours?: number;
}

export const SEED_SPRINT = {
  name: "Sprint 1 — Foundation",
  goal: "Walking skeleton over real PostgreSQL",
  days: 14,
};
export const SEED_RELEASE = { name: "Taskmaster 1.0", versionLabel: "1.0.0", daysAhead: 45 };
export const SEED_MILESTONE = { name: "Public beta", daysAhead: 30 };

/** An epic with stories, tasks and subtasks (about twenty tasks). */
export const SEED_TASKS: SeedTask[] = [
  {
    key: "epic-auth",
    title: "User authentication and access control",
    type: "epic",
    status: "in_progress",
    priority: "high",
    complexity: "complex",
    labels: ["auth", "security"],
    description:
      "Sign-in through Cloudflare Access, service tokens for agents, and per-template permissions.",
  },
  {
    key: "story-login",
    parent: "epic-auth",
    title: "As a user I can sign in through Cloudflare Access",
    type: "story",
    status: "in_progress",
    priority: "high",
    complexity: "moderate",
    storyPoints: 8,
    inSprint: true,
    labels: ["auth"],
  },
  {
    key: "task-jwt",
    parent: "story-login",
    title: "Verify Cf-Access-Jwt-Assertion with cached JWKS",
    type: "task",
    status: "in_progress",
    priority: "high",
    complexity: "moderate",
    storyPoints: 5,
    assignedTo: "alice@example.com",
    inSprint: true,
    estimatedHours: 10,
  },
  {
    key: "sub-jwks-cache",
    parent: "task-jwt",
    title: "Cache signing keys by kid and refresh on miss",
    type: "task",
    status: "completed",
    priority: "medium",
    complexity: "simple",
    assignedTo: "alice@example.com",
    inSprint: true,
    estimatedHours: 3,
  },
  {
    key: "sub-clock-skew",
    parent: "task-jwt",
    title: "Accept small clock skew on exp and nbf",
    type: "task",
    status: "ready",
    priority: "medium",
    complexity: "trivial",
    assignedTo: "alice@example.com",
    inSprint: true,
    estimatedHours: 1,
  },
  {
    key: "task-cookie",
    parent: "story-login",
    title: "Fall back to the CF_Authorization cookie",
    type: "task",
    status: "pending",
    priority: "medium",
    complexity: "simple",
    storyPoints: 2,
    inSprint: true,
  },
  {
    key: "story-service-tokens",
    parent: "epic-auth",
    title: "As an agent I can authenticate with a service token",
    type: "story",
    status: "ready",
    priority: "high",
    complexity: "moderate",
    storyPoints: 5,
    inSprint: true,
  },
  {
    key: "task-service-identity",
    parent: "story-service-tokens",
    title: "Map service token JWTs to a service identity",
    type: "task",
    status: "pending",
    priority: "high",
    complexity: "moderate",
    storyPoints: 3,
    assignedTo: "bob@example.com",
    inSprint: true,
  },
  {
    key: "story-permissions",
    parent: "epic-auth",
    title: "As an owner I can grant template permissions to teams",
    type: "story",
    status: "pending",
    priority: "medium",
    complexity: "complex",
    storyPoints: 8,
  },
  {
    key: "task-permission-check",
    parent: "story-permissions",
    title: "Check read/write/execute/admin/approve on every TemplateService call",
    type: "task",
    status: "draft",
    priority: "medium",
    complexity: "complex",
    storyPoints: 5,
  },
  {
    key: "sub-expiry",
    parent: "task-permission-check",
    title: "Ignore expired and revoked grants",
    type: "task",
    status: "draft",
    priority: "low",
    complexity: "simple",
  },
  {
    key: "task-audit-denials",
    parent: "story-permissions",
    title: "Record permission denials as security events",
    type: "security",
    status: "pending",
    priority: "medium",
    complexity: "simple",
    storyPoints: 2,
  },
  {
    key: "epic-search",
    title: "Finding work: search and next task",
    type: "epic",
    status: "pending",
    priority: "medium",
    complexity: "complex",
    labels: ["search"],
  },
  {
    key: "story-fulltext",
    parent: "epic-search",
    title: "As a user I can search tasks with typos tolerated",
    type: "story",
    status: "pending",
    priority: "medium",
    complexity: "moderate",
    storyPoints: 5,
  },
  {
    key: "task-trgm",
    parent: "story-fulltext",
    title: "Combine tsvector rank with trigram similarity",
    type: "task",
    status: "pending",
    priority: "medium",
    complexity: "complex",
    storyPoints: 5,
    assignedTo: "carol@example.com",
  },
  {
    key: "spike-ranking",
    parent: "story-fulltext",
    title: "Spike: ranking weights for title versus description",
    type: "spike",
    status: "ready",
    priority: "low",
    complexity: "moderate",
    storyPoints: 2,
  },
  {
    key: "story-next-task",
    parent: "epic-search",
    title: "As an agent I can claim the next unblocked task",
    type: "story",
    status: "pending",
    priority: "high",
    complexity: "complex",
    storyPoints: 8,
  },
  {
    key: "task-skip-locked",
    parent: "story-next-task",
    title: "Claim with FOR UPDATE SKIP LOCKED and a lease",
    type: "task",
    status: "pending",
    priority: "high",
    complexity: "complex",
    storyPoints: 5,
  },
  {
    key: "bug-page-token",
    title: "List pagination repeats a task when two share a timestamp",
    type: "bug",
    status: "completed",
    priority: "critical",
    complexity: "simple",
    storyPoints: 1,
    assignedTo: "bob@example.com",
    inSprint: true,
    labels: ["api"],
  },
  {
    key: "doc-runbook",
    title: "Write the database restore runbook",
    type: "documentation",
    status: "pending",
    priority: "low",
    complexity: "simple",
    labels: ["ops"],
  },
  {
    key: "perf-get-task",
    title: "GetTask within 0.7 of the raw pg floor",
    type: "performance",
    status: "review",
    priority: "medium",
    complexity: "complex",
    storyPoints: 3,
    inSprint: true,
  },
];
