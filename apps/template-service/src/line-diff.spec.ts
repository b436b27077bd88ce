/** The unified-diff text of DiffTemplateVersions: headers, hunk ranges, merged hunks, the wholesale fallback. */
import { describe, expect, it } from "vitest";
import { unifiedDiff } from "./line-diff.js";

const labels: [string, string] = ["1.0.0", "2.0.0"];

describe("unifiedDiff", () => {
  it("writes headers, one hunk with context, and counts added and removed lines", () => {
    expect(unifiedDiff("one\ntwo\nthree\n", "one\n2\nthree\nfour\n", labels)).toEqual({
      text: "--- a/1.0.0\n+++ b/2.0.0\n@@ -1,3 +1,4 @@\n one\n-two\n+2\n three\n+four\n",
      added: 2,
      removed: 1,
    });
  });

  it("names the line before an empty range, as unified diffs do", () => {
    expect(unifiedDiff("", "a\nb", labels).text).toBe("--- a/1.0.0\n+++ b/2.0.0\n@@ -0,0 +1,2 @@\n+a\n+b\n");
    expect(unifiedDiff("a\nb\n", "", labels).text).toBe(
      "--- a/1.0.0\n+++ b/2.0.0\n@@ -1,2 +0,0 @@\n-a\n-b\n",
    );
    expect(unifiedDiff("a\nb\nc", "a\nc\n", labels, 0).text).toBe(
      "--- a/1.0.0\n+++ b/2.0.0\n@@ -2,1 +1,0 @@\n-b\n",
    );
  });

  it("keeps hunks apart when more than twice the context separates them", () => {
    const before = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n";
    const after = "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\nY\n12\n";
    expect(unifiedDiff(before, after, labels, 1).text).toBe(
      "--- a/1.0.0\n+++ b/2.0.0\n@@ -1,3 +1,3 @@\n 1\n-2\n+X\n 3\n@@ -10,3 +10,3 @@\n 10\n-11\n+Y\n 12\n",
    );
  });

  it("is empty for equal texts, a missing final newline included", () => {
    expect(unifiedDiff("same\n", "same", labels)).toEqual({ text: "", added: 0, removed: 0 });
  });

  it("reports a middle too different to search as replaced wholesale, within the common lines", () => {
    const lines = (prefix: string) => Array.from({ length: 1200 }, (_, i) => `${prefix}${i}`);
    const before = ["head", ...lines("x"), "tail"].join("\n");
    const after = ["head", ...lines("y"), "tail"].join("\n");
    const diff = unifiedDiff(before, after, labels, 1);
    expect(diff).toMatchObject({ added: 1200, removed: 1200 });
    expect(diff.text).toBe(
      [
        "--- a/1.0.0",
        "+++ b/2.0.0",
        "@@ -1,1202 +1,1202 @@",
        " head",
        ...lines("-x"),
        ...lines("+y"),
        " tail",
        "",
      ].join("\n"),
    );
  });
});
