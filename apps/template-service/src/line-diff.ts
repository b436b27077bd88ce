/** A small LCS line diff producing unified-diff text (`--- a/x`, `+++ b/y`, `@@` hunks). */

type Op = { kind: " " | "-" | "+"; line: string; a: number; b: number };

function splitLines(s: string): string[] {
  if (s === "") return [];
  const lines = s.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Edit script from `a` to `b` (LCS by dynamic programming over the trimmed middle). */
function editScript(a: string[], b: string[]): Op[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const n = endA - start;
  const m = endB - start;
  if (n * m > 4_000_000) {
    // Too large for the quadratic table: report the differing middle as replaced wholesale.
    const ops: Op[] = [];
    for (let k = 0; k < start; k++) ops.push({ kind: " ", line: a[k] as string, a: k, b: k });
    for (let k = start; k < endA; k++) ops.push({ kind: "-", line: a[k] as string, a: k, b: start });
    for (let k = start; k < endB; k++) ops.push({ kind: "+", line: b[k] as string, a: endA, b: k });
    for (let k = 0; k < a.length - endA; k++)
      ops.push({ kind: " ", line: a[endA + k] as string, a: endA + k, b: endB + k });
    return ops;
  }
  // lcs[i][j] = LCS length of a[start+i..endA) and b[start+j..endB)
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    const row = lcs[i] as Uint32Array;
    const next = lcs[i + 1] as Uint32Array;
    for (let j = m - 1; j >= 0; j--) {
      row[j] =
        a[start + i] === b[start + j]
          ? (next[j + 1] as number) + 1
          : Math.max(next[j] as number, row[j + 1] as number);
    }
  }
  const ops: Op[] = [];
  for (let k = 0; k < start; k++) ops.push({ kind: " ", line: a[k] as string, a: k, b: k });
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[start + i] === b[start + j]) {
      ops.push({ kind: " ", line: a[start + i] as string, a: start + i, b: start + j });
      i++;
      j++;
    } else if (
      i < n &&
      (j >= m || ((lcs[i + 1] as Uint32Array)[j] as number) >= ((lcs[i] as Uint32Array)[j + 1] as number))
    ) {
      ops.push({ kind: "-", line: a[start + i] as string, a: start + i, b: start + j });
      i++;
    } else {
      ops.push({ kind: "+", line: b[start + j] as string, a: start + i, b: start + j });
      j++;
    }
  }
  for (let k = 0; k < a.length - endA; k++) {
    ops.push({ kind: " ", line: a[endA + k] as string, a: endA + k, b: endB + k });
  }
  return ops;
}

export interface LineDiff {
  text: string;
  added: number;
  removed: number;
}

/** Unified diff of `before` -> `after`; empty text when equal. */
export function unifiedDiff(before: string, after: string, labels: [string, string], context = 3): LineDiff {
  const ops = editScript(splitLines(before), splitLines(after));
  const added = ops.filter((o) => o.kind === "+").length;
  const removed = ops.filter((o) => o.kind === "-").length;
  if (added === 0 && removed === 0) return { text: "", added, removed };
  const out = [`--- a/${labels[0]}`, `+++ b/${labels[1]}`];
  const changed = ops.map((o, k) => (o.kind === " " ? -1 : k)).filter((k) => k >= 0);
  let h = 0;
  while (h < changed.length) {
    let from = Math.max(0, (changed[h] as number) - context);
    let to = Math.min(ops.length - 1, (changed[h] as number) + context);
    h++;
    while (h < changed.length && (changed[h] as number) - context <= to + 1) {
      to = Math.min(ops.length - 1, (changed[h] as number) + context);
      h++;
    }
    from = Math.max(0, from);
    const hunk = ops.slice(from, to + 1);
    const first = hunk[0] as Op;
    const aCount = hunk.filter((o) => o.kind !== "+").length;
    const bCount = hunk.filter((o) => o.kind !== "-").length;
    const aStart = aCount === 0 ? first.a : first.a + 1;
    const bStart = bCount === 0 ? first.b : first.b + 1;
    out.push(`@@ -${aStart},${aCount} +${bStart},${bCount} @@`);
    for (const o of hunk) out.push(`${o.kind}${o.line}`);
  }
  return { text: `${out.join("\n")}\n`, added, removed };
}
