/** The one page-token codec: round trip, binding, tag and field checks. */
import { describe, expect, it } from "vitest";
import {
  bindingDigest,
  decodeKeysetToken,
  decodeOffsetToken,
  decodePageToken,
  encodeKeysetToken,
  encodeOffsetToken,
  encodePageToken,
  InvalidPageTokenError,
  tokenField,
} from "./page-token.js";

const ID = "0190b4a0-7c4e-7d2a-9c1b-2f3e4d5c6b7a";

describe("page tokens", () => {
  it("round-trips a keyset position and an offset", () => {
    const b = bindingDigest("list|x");
    const token = encodeKeysetToken("k1", b, { key: "1700000000000000", id: ID });
    expect(decodeKeysetToken(token, "k1", b, tokenField.micros)).toEqual({ key: "1700000000000000", id: ID });
    expect(decodeOffsetToken(encodeOffsetToken("c1", b, 40), "c1", b)).toBe(40);
    expect(
      decodePageToken(encodePageToken("a1", "t", ["5", ID, 1]), "a1", "t", [
        tokenField.micros,
        tokenField.uuid,
        tokenField.bit,
      ]),
    ).toEqual(["5", ID, 1]);
  });

  it.each([
    [
      "another binding",
      () => decodeKeysetToken(encodeKeysetToken("k1", "a", { key: "1", id: ID }), "k1", "b"),
    ],
    ["another list", () => decodeKeysetToken(encodeKeysetToken("k1", "a", { key: "1", id: ID }), "u1", "a")],
    [
      "a key failing its check",
      () =>
        decodeKeysetToken(encodeKeysetToken("k1", "a", { key: "x", id: ID }), "k1", "a", tokenField.micros),
    ],
    [
      "an id that is not a uuid",
      () => decodeKeysetToken(encodeKeysetToken("k1", "a", { key: "1", id: "1" }), "k1", "a"),
    ],
    ["a negative offset", () => decodeOffsetToken(encodeOffsetToken("c1", "a", -1), "c1", "a")],
    ["extra fields", () => decodeOffsetToken(encodePageToken("c1", "a", [1, 2]), "c1", "a")],
    ["not base64 json", () => decodeOffsetToken("not-a-token", "c1", "a")],
  ])("refuses %s", (_name, decode) => {
    expect(decode).toThrow(InvalidPageTokenError);
  });
});
