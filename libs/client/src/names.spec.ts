import {
  TaskStatus,
  TaskStatusSchema,
  TaskTypeSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_pb";
import { describe, expect, it } from "vitest";
import { enumName, enumValue } from "./enums.js";
import { names } from "./names.js";
import { maskOf } from "./task.helpers.js";

describe("short enum names, from the descriptors", () => {
  it.each(TaskStatusSchema.values.filter((v) => v.number !== 0))("accepts every TaskStatus: $name", (v) => {
    const short = v.localName.toLowerCase();
    expect(enumValue(TaskStatusSchema, short)).toBe(v.number);
    expect(enumValue(TaskStatusSchema, v.name)).toBe(v.number);
    expect(enumName(TaskStatusSchema, v.number)).toBe(short);
  });
  it("refuses unknown and unspecified names, listing what is accepted", () => {
    expect(() => enumValue(TaskTypeSchema, "featur")).toThrow(/accepted: feature, bug/);
    expect(() => enumValue(TaskTypeSchema, "unspecified")).toThrow(TypeError);
    expect(enumValue(TaskStatusSchema, TaskStatus.REVIEW)).toBe(TaskStatus.REVIEW);
  });
});

describe("resource names and update masks", () => {
  it("builds and splits names", () => {
    expect(names.task("abc")).toBe("tasks/abc");
    expect(names.task("tasks/abc")).toBe("tasks/abc");
    expect(names.templateType("task_template")).toBe("templateTypes/task_template");
    expect(names.id("tasks/abc/timeLogs/x")).toBe("x");
    expect(names.parent("tasks/abc/timeLogs/x")).toBe("tasks/abc");
    expect(() => names.task("templates/abc")).toThrow(TypeError);
  });
  it("derives snake_case mask paths from the Task descriptor", () => {
    expect(maskOf({ storyPoints: 3, technicalNotes: "x" })).toEqual(["story_points", "technical_notes"]);
  });
});
