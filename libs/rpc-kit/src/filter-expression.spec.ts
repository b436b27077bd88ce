import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "./errors.js";
import { type ExprFieldSpec, parseFilterExpression } from "./filter-expression.js";

const SPECS: Record<string, ExprFieldSpec> = {
  status: { kind: "enum", values: ["open", "done"], enumPrefix: "STATUS_" },
  owner: { kind: "text" },
  parent: { kind: "ref", prefix: "tasks/" },
  tags: { kind: "array" },
  points: { kind: "int" },
  due: { kind: "time" },
  meta: { kind: "json" },
};

function violation(input: string) {
  try {
    parseFilterExpression(input, SPECS, "selector.filter");
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return (e as InvalidArgumentError).fieldViolations[0];
  }
  throw new Error(`expected ${input} to be refused`);
}

describe("parseFilterExpression", () => {
  it("builds a typed tree: OR binds tighter than AND, juxtaposition is AND, NOT wraps one term", () => {
    const { expr, fields } = parseFilterExpression(
      'status = STATUS_DONE OR owner = "ann" points >= 3 AND NOT tags:"x" meta.k = true',
      SPECS,
    );
    expect(expr).toEqual({
      type: "and",
      args: [
        {
          type: "and",
          args: [
            {
              type: "or",
              args: [
                { type: "cmp", field: "status", path: [], op: "=", value: { type: "string", text: "done" } },
                { type: "cmp", field: "owner", path: [], op: "=", value: { type: "string", text: "ann" } },
              ],
            },
            { type: "cmp", field: "points", path: [], op: ">=", value: { type: "number", text: "3" } },
          ],
        },
        {
          type: "and",
          args: [
            {
              type: "not",
              arg: { type: "cmp", field: "tags", path: [], op: ":", value: { type: "string", text: "x" } },
            },
            { type: "cmp", field: "meta", path: ["k"], op: "=", value: { type: "literal", text: "true" } },
          ],
        },
      ],
    });
    expect([...fields].sort()).toEqual(["meta", "owner", "points", "status", "tags"]);
  });

  it("converts per kind: presence, empty text/ref as null, ref ids lower-cased", () => {
    const id = "0190A5C4-0000-7000-8000-000000000001";
    const { expr } = parseFilterExpression(`owner:* AND owner = "" AND parent = "tasks/${id}"`, SPECS);
    expect(expr).toMatchObject({
      args: [
        { value: { type: "present" } },
        { value: { type: "null" } },
        { value: { type: "string", text: id.toLowerCase() } },
      ],
    });
    expect(parseFilterExpression("  ", SPECS)).toEqual({ expr: null, fields: new Set() });
  });

  it("refuses unknown fields, bad values and bad syntax as INVALID_FILTER at a 1-based position", () => {
    expect(violation("nope = 1")).toMatchObject({
      field: "selector.filter",
      reason: "INVALID_FILTER",
      description: expect.stringMatching(/^at position 1: unknown field 'nope'/),
    });
    expect(violation("status = MAYBE")?.description).toMatch(/^at position 10: unknown status value/);
    expect(violation("tags = x")?.description).toMatch(/^at position 1: tags is a list/);
    expect(violation("parent < x")?.description).toMatch(/supports only =, != and :/);
    expect(violation("points = 1.5")?.description).toMatch(/needs an integer/);
    expect(violation("meta.k = word")?.description).toMatch(/quote the string value/);
    expect(violation("constructor = 1")?.description).toMatch(/unknown field 'constructor'/);
    expect(violation("(owner = x")?.description).toMatch(/^at position 11: expected '\)'/);
    expect(violation('owner = "open')?.description).toMatch(/^at position 9: unterminated string/);
    expect(violation("owner = x)")?.description).toMatch(/unbalanced '\)'/);
  });
});
