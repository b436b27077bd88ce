import { create } from "@bufbuild/protobuf";
import {
  GetAuditEventRequestSchema,
  ListAuditEventsRequestSchema,
} from "@taskmaster/proto/gen/taskmaster/audit/v1/audit_service_pb";
import { describe, expect, it } from "vitest";
import { findSuspiciousInput } from "./suspicious-input.js";

describe("findSuspiciousInput", () => {
  it("flags SQL metacharacters in id fields and very long strings, never returning the value", () => {
    const bad = create(GetAuditEventRequestSchema, { name: "auditEvents/1' or '1'='1" });
    expect(findSuspiciousInput(bad, GetAuditEventRequestSchema)).toEqual([
      { field: "name", reason: "sql_metachar_in_id", length: bad.name.length },
    ]);
    const nul = create(GetAuditEventRequestSchema, { name: "auditEvents/x\0" });
    expect(findSuspiciousInput(nul, GetAuditEventRequestSchema)[0]?.reason).toBe("sql_metachar_in_id");
    const long = create(ListAuditEventsRequestSchema, { filter: "x".repeat(200_001) });
    expect(findSuspiciousInput(long, ListAuditEventsRequestSchema)).toEqual([
      { field: "filter", reason: "very_long_string", length: 200_001 },
    ]);
  });

  it("leaves ordinary requests alone (quotes in filters are fine)", () => {
    const ok = create(ListAuditEventsRequestSchema, {
      filter: 'entity_type = "task"',
      pageToken: "eyJhIjoxfQ",
    });
    expect(findSuspiciousInput(ok, ListAuditEventsRequestSchema)).toEqual([]);
    const name = create(GetAuditEventRequestSchema, {
      name: "auditEvents/0193a1b2-0000-7000-8000-000000000001",
    });
    expect(findSuspiciousInput(name, GetAuditEventRequestSchema)).toEqual([]);
  });
});
