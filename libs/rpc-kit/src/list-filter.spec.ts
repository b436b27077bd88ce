import { HealthCheckResponse_ServingStatusSchema as ServingStatus } from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { describe, expect, it } from "vitest";
import { enumCodec } from "./enum-codec.js";
import { InvalidArgumentError } from "./errors.js";
import {
  type DialectListSpec,
  type ListFieldSpec,
  type ListSpec,
  listQueryOf,
  parseListFilter,
  SUBRESOURCE_SYNTAX,
  TEMPLATE_SYNTAX,
} from "./list-filter.js";
import { validator } from "./validation.js";

const codec = enumCodec(ServingStatus);
const FIELDS = {
  status: { kind: "enum", desc: ServingStatus, toDb: (n: number) => codec.toDb(n) },
  owner: { kind: "string" },
  done: { kind: "bool" },
  points: { kind: "int" },
  sprint: { kind: "name", pattern: "sprints/{sprint}", nullable: true, nullWord: true },
  tags: { kind: "string", ops: [":"] },
  rate: { kind: "number", min: 0, max: 1 },
} as const satisfies Record<string, ListFieldSpec>;
const SPRINT = "sprints/7F1E2D3C-4B5A-4C6D-8E9F-0A1B2C3D4E5F";

/** The single violation of what `f` throws. */
function violation(f: () => unknown): { field: string; description: string; reason: string } {
  try {
    f();
  } catch (err) {
    if (err instanceof InvalidArgumentError && err.fieldViolations[0] !== undefined) {
      const { field, description, reason } = err.fieldViolations[0];
      return { field, description, reason: reason ?? "" };
    }
    throw err;
  }
  throw new Error("expected an InvalidArgumentError");
}

describe("parseListFilter", () => {
  it("reads the default dialect: quoted strings, bools as text, INVALID_SYNTAX at a position", () => {
    expect(parseListFilter('owner = "ada" AND done = true AND points >= 3', FIELDS)).toEqual([
      { field: "owner", op: "=", value: "ada" },
      { field: "done", op: "=", value: "true" },
      { field: "points", op: ">=", value: 3 },
    ]);
    expect(violation(() => parseListFilter("owner = ada", FIELDS))).toEqual({
      field: "filter",
      description: "at position 9: expected a string literal in double quotes",
      reason: "INVALID_SYNTAX",
    });
    expect(violation(() => parseListFilter("done < true", FIELDS, "scope")).field).toBe("scope");
  });

  it("reads the sub-resource dialect: bare strings, booleans, operators checked as soon as read", () => {
    const syntax = SUBRESOURCE_SYNTAX;
    expect(
      parseListFilter('owner = ada AND done = "false" AND status = serving', FIELDS, { syntax }),
    ).toEqual([
      { field: "owner", op: "=", value: "ada" },
      { field: "done", op: "=", value: false },
      { field: "status", op: "=", value: "serving" },
    ]);
    expect(violation(() => parseListFilter("owner < x AND", FIELDS, { syntax }))).toEqual({
      field: "filter",
      description: "at position 7: owner supports only = and !=",
      reason: "INVALID_FILTER",
    });
    const many = Array.from({ length: 21 }, () => "done = true").join(" AND ");
    expect(parseListFilter(many.slice(0, many.lastIndexOf(" AND ")), FIELDS, { syntax })).toHaveLength(20);
    expect(violation(() => parseListFilter(many, FIELDS, { syntax })).reason).toBe("INVALID_FILTER");
  });

  it("reads the template dialect: `:`, values checked after the syntax, errors naming the field", () => {
    const syntax = TEMPLATE_SYNTAX;
    expect(
      parseListFilter(`tags:go AND sprint = null AND sprint != "${SPRINT}"`, FIELDS, { syntax }),
    ).toEqual([
      { field: "tags", op: ":", value: "go" },
      { field: "sprint", op: "=", value: null },
      { field: "sprint", op: "!=", value: SPRINT.slice("sprints/".length).toLowerCase() },
    ]);
    expect(violation(() => parseListFilter("tags = go", FIELDS, { syntax }))).toEqual({
      field: "filter",
      description: 'tags: supports only ":" (has)',
      reason: "INVALID_FILTER",
    });
    expect(violation(() => parseListFilter('rate = ""', FIELDS, { syntax })).description).toBe(
      "rate: must be a number between 0 and 1",
    );
    // The syntax error after a bad value wins.
    expect(violation(() => parseListFilter("done = maybe AND (", FIELDS, { syntax })).description).toBe(
      "at position 18: expected a field name",
    );
    expect(violation(() => parseListFilter("x".repeat(4001), FIELDS, { syntax })).reason).toBe("TOO_LONG");
  });
});

describe("listQueryOf", () => {
  const spec: ListSpec<keyof typeof FIELDS, "points" | "owner"> = {
    fields: FIELDS,
    orderFields: ["points", "owner"],
    defaultOrder: { field: "points", desc: true },
  };
  const req = { pageSize: 0, pageToken: "", filter: "points > 1", orderBy: "" };

  it("reads page size, filter and order and binds the page token", () => {
    expect(listQueryOf({ ...req, pageToken: "t" }, spec, { binding: ["x", req.filter] })).toEqual({
      pageSize: 50,
      pageToken: "t",
      conditions: [{ field: "points", op: ">", value: 1 }],
      orderBy: { field: "points", desc: true },
      binding: '["x","points > 1"]',
    });
    const bound = listQueryOf({ ...req, orderBy: "owner" }, spec, { binding: (o) => [o.field, o.desc] });
    expect(bound.binding).toBe('["owner",false]');
    expect(listQueryOf(req, spec, { binding: "raw" }).binding).toBe("raw");
  });

  it("throws the request's other violations with page_size before reading the filter", () => {
    const v = validator();
    v.add("parent", "is required", "REQUIRED");
    let err: unknown;
    try {
      listQueryOf({ ...req, pageSize: -1, filter: "(" }, spec, { pageSize: v, binding: "" });
    } catch (e) {
      err = e;
    }
    expect((err as InvalidArgumentError).fieldViolations.map((f) => f.field)).toEqual([
      "parent",
      "page_size",
    ]);
  });

  it("reads order_by in the dialect's order syntax", () => {
    const sub: DialectListSpec<keyof typeof FIELDS, "points"> = {
      fields: FIELDS,
      syntax: SUBRESOURCE_SYNTAX,
      orderFields: ["points"],
      defaultOrder: { field: "points", desc: false },
    };
    expect(
      listQueryOf({ ...req, orderBy: "points desc" }, sub, { pageSize: 5, binding: "" }).orderBy,
    ).toEqual({
      field: "points",
      desc: true,
    });
    expect(
      violation(() => listQueryOf({ ...req, orderBy: "owner" }, sub, { pageSize: 5, binding: "" })),
    ).toEqual({
      field: "order_by",
      description: 'must be one of "points", "points desc"',
      reason: "INVALID_ORDER_BY",
    });
  });
});
