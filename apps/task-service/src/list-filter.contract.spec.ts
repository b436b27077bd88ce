/**
 * Every TaskService RPC with a `filter` request field (found from the descriptor) refuses an unknown field
 * and a malformed expression with INVALID_ARGUMENT naming `filter`.
 */
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { expectFilterRejected, methodsWithFilter } from "@taskmaster/testing/list-filter-contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, newTask, startHarness } from "./workflow.test-util.js";

let harness: Harness;
/** Other request fields a method needs to get as far as its filter (filled in once a task exists). */
const needs: Record<string, Record<string, unknown>> = {};

beforeAll(async () => {
  harness = await startHarness();
  const task = await newTask(harness.client);
  for (const method of ["ListChildTasks", "ListStatusHistory", "ListRelationships", "ListComments"]) {
    needs[method] = { parent: task.name };
  }
  needs.ListAttachments = { parent: task.name };
  needs.ListTimeLogs = { parent: task.name };
  needs.SearchTasks = { query: "anything" };
});

afterAll(async () => {
  await harness?.close();
});

const methods = methodsWithFilter(TaskService);

describe("TaskService filter contract", () => {
  it("finds the RPCs with a filter field", () => {
    expect(methods.map((m) => m.name)).toContain("ListTasks");
    expect(methods.length).toBeGreaterThan(10);
  });

  for (const method of methods) {
    it(`${method.name} refuses an unknown field and malformed expressions naming filter`, async () => {
      const init = needs[method.name] ?? {};
      await expectFilterRejected(harness.client, method, init);
    });
  }
});
