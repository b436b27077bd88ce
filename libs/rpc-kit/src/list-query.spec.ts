import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "./errors.js";
import { type FilterSyntax, parseConjunction, parseOrderBy } from "./list-query.js";

const FIELDS = { state: "enum", title: "string", points: "int", sprint: "name" } as const;

function scan(input: string, syntax: FilterSyntax = {}) {
  return parseConjunction(input, FIELDS, syntax, (c) => ({
    field: c.field,
    kind: c.kind,
    op: c.op,
    value: c.value.text,
    quoted: c.value.quoted,
    pos: c.value.pos,
  }));
}

function violation(f: () => unknown) {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    const [first] = (e as InvalidArgumentError).fieldViolations;
    if (first === undefined) throw new Error("expected a field violation");
    return first;
  }
  throw new Error("expected an InvalidArgumentError");
}

describe("parseConjunction", () => {
  it("returns no comparisons for empty or blank input", () => {
    expect(scan("")).toEqual([]);
    expect(scan("   ")).toEqual([]);
  });

  it("scans every comparison operator, with or without spaces", () => {
    for (const op of ["=", "!=", "<", "<=", ">", ">="]) {
      const want = [{ field: "points", kind: "int", op, value: "3", quoted: false }];
      expect(scan(`points ${op} 3`)).toMatchObject(want);
      expect(scan(`points${op}3`)).toMatchObject(want);
    }
  });

  it("joins comparisons with AND and hands each its field-table entry", () => {
    expect(scan('state = ACTIVE AND title != "x" AND sprint = sprints/s1')).toEqual([
      { field: "state", kind: "enum", op: "=", value: "ACTIVE", quoted: false, pos: 8 },
      { field: "title", kind: "string", op: "!=", value: "x", quoted: true, pos: 28 },
      { field: "sprint", kind: "name", op: "=", value: "sprints/s1", quoted: false, pos: 45 },
    ]);
  });

  it("unquotes double-quoted strings with backslash escapes", () => {
    expect(scan('title = "a \\"b\\" AND c"')).toMatchObject([{ value: 'a "b" AND c', quoted: true }]);
    expect(scan('title = ""')).toMatchObject([{ value: "", quoted: true }]);
  });

  it("names the (1-based) position of syntax errors", () => {
    const cases: [string, string][] = [
      ['title = "open', "at position 9: unterminated string"],
      [
        "points = 1 OR points = 2",
        "at position 12: expected AND, got 'OR' (OR, NOT and parentheses are not supported)",
      ],
      [
        "points = 1 and points = 2",
        "at position 12: expected AND, got 'and' (OR, NOT and parentheses are not supported)",
      ],
      ["(points = 1)", "at position 1: unexpected character '(' (supported: field op value joined by AND)"],
      ["points ! 1", "at position 8: unexpected '!'"],
      ["colour = red", "at position 1: unknown field 'colour' (filterable: state, title, points, sprint)"],
      ["points 1", "at position 8: expected a comparison operator (=, !=, <, <=, >, >=)"],
      ["points =", "at position 9: expected a value"],
      ["points = =", "at position 10: expected a value"],
      ["points = 1 AND", "at position 15: expected a field after AND"],
    ];
    for (const [input, description] of cases) {
      expect(violation(() => scan(input))).toEqual({
        field: "filter",
        description,
        reason: "INVALID_SYNTAX",
      });
    }
  });

  it("reports lexical errors before syntax errors when tokenising up front", () => {
    expect(violation(() => scan("colour = 1 AND $")).description).toBe(
      "at position 16: unexpected character '$' (supported: field op value joined by AND)",
    );
    expect(violation(() => scan("colour = 1 AND $", { lexical: false })).description).toBe(
      "at position 1: unknown field 'colour' (filterable: state, title, points, sprint)",
    );
  });

  it("uses the request field, reason, messages and limits it is given", () => {
    const syntax: FilterSyntax = {
      requestField: "scope",
      violationReason: "INVALID_FILTER",
      maxComparisons: 1,
      messages: { unknownField: (name) => `no ${name}` },
    };
    expect(violation(() => scan("x = 1", syntax))).toEqual({
      field: "scope",
      description: "at position 1: no x",
      reason: "INVALID_FILTER",
    });
    expect(violation(() => scan("points = 1 AND points = 2", syntax)).description).toBe(
      "at position 16: at most 1 comparisons",
    );
    expect(violation(() => scan("x".repeat(11), { maxLength: 10 }))).toEqual({
      field: "filter",
      description: "must be at most 10 characters",
      reason: "TOO_LONG",
    });
  });

  it("optionally accepts ':' and custom field and value patterns", () => {
    const syntax: FilterSyntax = { colon: true, lexical: false, field: /[a-z_]+/y, bareValue: /[^\s()"]+/y };
    expect(scan("title:a<b=c AND points>=2", syntax)).toMatchObject([
      { field: "title", op: ":", value: "a<b=c" },
      { field: "points", op: ">=", value: "2" },
    ]);
  });

  it("lets the caller refuse an operator before the value is read", () => {
    const onOperator = (field: string, op: string, opPos: number) => {
      if (field === "state" && op !== "=") throw new Error(`${op} at ${opPos}`);
    };
    expect(() => scan("state <", { onOperator })).toThrow("< at 6");
  });

  it("propagates the caller's conversion errors in order", () => {
    expect(() =>
      parseConjunction("points = x AND $", FIELDS, { lexical: false }, () => {
        throw new Error("conversion");
      }),
    ).toThrow("conversion");
  });
});

describe("parseOrderBy", () => {
  const FALLBACK = { field: "create_time", desc: true } as const;
  const SORTABLE = ["create_time", "title"] as const;

  it("returns the fallback for empty input", () => {
    expect(parseOrderBy("  ", SORTABLE, FALLBACK)).toEqual(FALLBACK);
  });

  it("accepts one field with an optional asc/desc (any case)", () => {
    expect(parseOrderBy("title", SORTABLE, FALLBACK)).toEqual({ field: "title", desc: false });
    expect(parseOrderBy(" title desc ", SORTABLE, FALLBACK)).toEqual({ field: "title", desc: true });
    expect(parseOrderBy("title DESC", SORTABLE, FALLBACK)).toEqual({ field: "title", desc: true });
    expect(parseOrderBy("create_time asc", SORTABLE, FALLBACK)).toEqual({
      field: "create_time",
      desc: false,
    });
  });

  it("names the position of mistakes", () => {
    const cases: [string, string][] = [
      ["title, create_time", "at position 6: only one order field is supported"],
      ["colour", "at position 1: unknown field 'colour' (sortable: create_time, title)"],
      ["title up", "at position 7: expected ' desc' or ' asc' after the field"],
      ["title desc x", "at position 7: expected ' desc' or ' asc' after the field"],
    ];
    for (const [input, description] of cases) {
      expect(violation(() => parseOrderBy(input, SORTABLE, FALLBACK))).toEqual({
        field: "order_by",
        description,
        reason: "INVALID_SYNTAX",
      });
    }
    expect(
      violation(() => parseOrderBy("t".repeat(20), SORTABLE, FALLBACK, { maxLength: 10 })).description,
    ).toBe("at position 11: too long");
  });

  it("can report every mistake as one summary, case-sensitively", () => {
    const syntax = {
      requestField: "sort",
      caseSensitive: true,
      summary: {
        violationReason: "INVALID_ORDER_BY",
        description: (f: readonly string[]) => `one of ${f.join("|")}`,
      },
    };
    expect(parseOrderBy("title desc", SORTABLE, FALLBACK, syntax)).toEqual({ field: "title", desc: true });
    for (const input of ["title DESC", "colour", "title,x"]) {
      expect(violation(() => parseOrderBy(input, SORTABLE, FALLBACK, syntax))).toEqual({
        field: "sort",
        description: "one of create_time|title",
        reason: "INVALID_ORDER_BY",
      });
    }
  });
});
