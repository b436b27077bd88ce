/**
 * Unified-diff text (`--- a/x`, `+++ b/y`, `@@` hunks) of two texts, line by line. The edit script comes from
 * jsdiff (Myers); this module only fixes the text's shape: both texts end in a newline (no "\ No newline"
 * markers), labels are written as given, and past {@link MAX_EDIT_LENGTH} changed lines the differing middle is
 * reported as replaced wholesale instead of searched for.
 */
import { type StructuredPatchHunk, structuredPatch } from "diff";

/** Changed lines the diff search may explore before it gives up: about 60 ms on two 3000-line texts with no line in common. */
const MAX_EDIT_LENGTH = 1_000;

export interface LineDiff {
  text: string;
  added: number;
  removed: number;
}

function splitLines(s: string): string[] {
  if (s === "") return [];
  const lines = s.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** One hunk replacing everything between the common first and last lines of `a` and `b`. */
function wholesale(a: string[], b: string[], context: number): StructuredPatchHunk {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let tail = 0;
  while (
    tail < a.length - start &&
    tail < b.length - start &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  ) {
    tail++;
  }
  const from = Math.max(0, start - context);
  const after = Math.min(tail, context);
  const lines = [
    ...a.slice(from, start).map((l) => ` ${l}`),
    ...a.slice(start, a.length - tail).map((l) => `-${l}`),
    ...b.slice(start, b.length - tail).map((l) => `+${l}`),
    ...a.slice(a.length - tail, a.length - tail + after).map((l) => ` ${l}`),
  ];
  return {
    oldStart: from + 1,
    oldLines: a.length - tail + after - from,
    newStart: from + 1,
    newLines: b.length - tail + after - from,
    lines,
  };
}

/** Unified diff of `before` -> `after`; empty text when equal. */
export function unifiedDiff(before: string, after: string, labels: [string, string], context = 3): LineDiff {
  const a = splitLines(before);
  const b = splitLines(after);
  const text = (lines: string[]) => lines.map((l) => `${l}\n`).join("");
  const patch = structuredPatch("", "", text(a), text(b), undefined, undefined, {
    context,
    maxEditLength: MAX_EDIT_LENGTH,
  });
  const hunks = patch?.hunks ?? [wholesale(a, b, context)];
  const changed = hunks.flatMap((h) => h.lines);
  const added = changed.filter((l) => l.startsWith("+")).length;
  const removed = changed.filter((l) => l.startsWith("-")).length;
  if (added === 0 && removed === 0) return { text: "", added, removed };
  const out = [`--- a/${labels[0]}`, `+++ b/${labels[1]}`];
  for (const h of hunks) {
    // Unified diff: a range of no lines names the line before it.
    const oldStart = h.oldLines === 0 ? h.oldStart - 1 : h.oldStart;
    const newStart = h.newLines === 0 ? h.newStart - 1 : h.newStart;
    out.push(`@@ -${oldStart},${h.oldLines} +${newStart},${h.newLines} @@`, ...h.lines);
  }
  return { text: `${out.join("\n")}\n`, added, removed };
}
