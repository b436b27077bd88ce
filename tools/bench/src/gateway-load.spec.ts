import { describe, expect, it } from "vitest";
import { grpcWebFrame, grpcWebOk } from "./gateway-load.js";

const trailer = (text: string) => {
  const body = Buffer.from(text, "latin1");
  const frame = Buffer.alloc(5 + body.length);
  frame[0] = 0x80;
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  return frame;
};

describe("gRPC-Web framing for the gateway benchmark", () => {
  it("frames a message with flag 0 and its big-endian length", () => {
    const frame = grpcWebFrame(new Uint8Array([1, 2, 3]));
    expect([...frame]).toEqual([0, 0, 0, 0, 3, 1, 2, 3]);
  });

  it("counts a call as successful only with grpc-status 0 in the trailers or headers", () => {
    const data = grpcWebFrame(new Uint8Array([9, 9]));
    const ok = Buffer.concat([data, trailer("grpc-status:0\r\ngrpc-message:\r\n")]);
    expect(grpcWebOk(200, ok, {})).toBe(true);
    expect(grpcWebOk(200, Buffer.concat([data, trailer("grpc-status: 5\r\n")]), {})).toBe(false);
    expect(grpcWebOk(200, data, {})).toBe(false);
    expect(grpcWebOk(200, Buffer.alloc(0), { "grpc-status": "0" })).toBe(true);
    expect(grpcWebOk(200, Buffer.alloc(0), { "grpc-status": "16" })).toBe(false);
    expect(grpcWebOk(503, ok, {})).toBe(false);
  });
});
