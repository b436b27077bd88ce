import { HealthCheckResponse_ServingStatusSchema } from "@taskmaster/proto/gen/grpc/health/v1/health_pb";
import { describe, expect, it } from "vitest";
import { enumCodec } from "./enum-codec.js";

describe("enumCodec", () => {
  const codec = enumCodec(HealthCheckResponse_ServingStatusSchema);
  it("maps numbers to lower-case names without the shared prefix and back", () => {
    expect(codec.toDb(1)).toBe("serving");
    expect(codec.toDb(3)).toBe("service_unknown");
    expect(codec.fromDb("not_serving")).toBe(2);
  });
  it("has no database value for UNSPECIFIED/UNKNOWN(0) and unknown numbers", () => {
    expect(codec.toDb(0)).toBeUndefined();
    expect(codec.toDb(99)).toBeUndefined();
    expect(codec.fromDb("bogus")).toBe(0);
  });
});
