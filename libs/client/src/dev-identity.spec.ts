/**
 * The development stack with identity keys as the launcher creates them: through the development gateway the
 * developer is a signed admin, so AuditService and template permissions work (without keys the audit API
 * answers PERMISSION_DENIED: the services never see the role); direct token-less calls to a service port
 * still work with plain actor headers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTaskmasterClient } from "./client.js";
import type { TaskmasterError } from "./errors.js";
import { type Stack, startStack } from "./stack.test-util.js";

describe("development gateway without identity keys (before)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.close();
  });
  it("refuses the audit API: no signed identity carries the developer's admin role", async () => {
    const tm = createTaskmasterClient({ baseUrl: stack.gatewayUrl });
    const error = await tm.audit.listAuditEvents({ pageSize: 1 }).catch((e: TaskmasterError) => e);
    expect((error as TaskmasterError).codeName).toBe("permission_denied");
  });
});

describe("development gateway with the launcher's identity keys", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ identity: true });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("answers AuditService for the developer (admin), with the developer as the actor of writes", async () => {
    const tm = createTaskmasterClient({ baseUrl: stack.gatewayUrl });
    const task = await tm.tasks.create({ title: "Audited in development" });
    const { auditEvents } = await tm.audit.listAuditEvents({ pageSize: 50 });
    const mine = auditEvents.find((e) => e.entity === task.name);
    expect(mine?.actor?.subject).toBe("developer");
  });

  it("lets the developer create, grant and use templates, and create tasks from them (delegated)", async () => {
    const tm = createTaskmasterClient({ baseUrl: stack.gatewayUrl });
    const template = await tm.templates.create({
      slug: "dev_identity_template",
      title: "Dev identity template",
      type: "task_template",
      content: "Do {{thing}}",
      variables: ["thing"],
    });
    expect(template.owner).toBe("developer");
    const grant = await tm.template.grantTemplatePermission({
      parent: template.name,
      templatePermission: { grantee: { case: "user", value: "alice" }, permission: 1 },
    });
    expect(grant.templatePermission?.name).toMatch(/^templates\/.+\/permissions\//);
    const made = await tm.templates.createTask(template, { thing: "it" });
    expect(made.task.description).toBe("Do it");
  });

  it("still serves token-less direct calls to a service port (plain actor header, development only)", async () => {
    const direct = createTaskmasterClient({
      baseUrl: stack.direct.template,
      protocol: "grpc",
      endpoints: stack.direct,
      actor: "script",
    });
    const template = await direct.templates.create({
      slug: "direct_dev_template",
      title: "Direct template",
      type: "task_template",
      content: "x",
    });
    expect(template.owner).toBe("script");
  });
});
