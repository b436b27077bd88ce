/**
 * Finds, in TypeScript source text, every `ErrorInfo.reason` the code can send (error-reasons.spec.ts checks
 * them against errors.proto). A plain text scan with fixed rules (the domain errors' `reason` parameter is
 * also typed `ErrorReasonName`, so the compiler refuses what this scan misses):
 *  1. a string literal after a `reason` key, parameter or field (`reason: "X"`, `reason = "X"`,
 *     `reason: ErrorReasonName = "X"`, `reason: "X" | "Y"`), except inside an object that has a `field` key
 *     (a `google.rpc.BadRequest.FieldViolation`, whose reason is not an ErrorInfo reason);
 *  2. string literals in a declaration typed with `ErrorReasonName` (`const m: Record<K, ErrorReasonName> =
 *     {...}`, `new Set<ErrorReasonName>([...])`);
 *  3. string literals passed directly to a domain error constructor (`new PermissionDeniedError(msg, "X")`),
 *     to `super(...)` in a class extending one, or to a function with an `ErrorReasonName` parameter.
 * Field violation reasons are returned apart: InvalidArgumentError promotes some of them to its ErrorInfo.
 */

export interface FoundReason {
  readonly reason: string;
  /** `file:line` */
  readonly at: string;
}

export interface ScanResult {
  /** Reasons the code can send as ErrorInfo.reason. */
  readonly sent: FoundReason[];
  /** Reasons of field violations (rule 1's exception). */
  readonly fieldViolation: FoundReason[];
}

const LITERAL = /"([A-Z][A-Z0-9_]*)"/g;
const OPEN: Record<string, string> = { "(": ")", "[": "]", "{": "}" };

/** Index just after the bracket closing the one at `open`, skipping string literals. */
function closing(text: string, open: number): number {
  const stack: string[] = [];
  for (let i = open; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '"' || c === "'" || c === "`") {
      for (i++; i < text.length && text[i] !== c; i++) if (text[i] === "\\") i++;
      continue;
    }
    if (OPEN[c] !== undefined) stack.push(OPEN[c] as string);
    else if (c === stack[stack.length - 1]) {
      stack.pop();
      if (stack.length === 0) return i + 1;
    }
  }
  return text.length;
}

/** Start of the innermost `{` enclosing `at` (or -1). */
function enclosingBrace(text: string, at: number): number {
  let depth = 0;
  for (let i = at; i >= 0; i--) {
    const c = text[i];
    if (c === "}") depth++;
    else if (c === "{") {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

/** The top-level text of an object literal (nested brackets blanked out). */
function topLevel(objectText: string): string {
  let out = "";
  for (let i = 1; i < objectText.length - 1; i++) {
    const c = objectText[i] as string;
    if (OPEN[c] !== undefined) {
      const end = closing(objectText, i);
      out += " ";
      i = end - 1;
    } else out += c;
  }
  return out;
}

/** Whether the literal at `index` is compared with (`x === "A"`), not sent. */
function compared(text: string, index: number): boolean {
  return /(?:[=!]==?|\bcase)\s*$/.test(text.slice(Math.max(0, index - 8), index));
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Literals at bracket depth 0 of an argument list `(...)` starting at `open`. */
function directArguments(text: string, open: number): { reason: string; index: number }[] {
  const end = closing(text, open);
  const out: { reason: string; index: number }[] = [];
  let depth = 0;
  for (let i = open + 1; i < end - 1; i++) {
    const c = text[i] as string;
    if (OPEN[c] !== undefined) depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (c === '"' && depth === 0) {
      const m = /^"([A-Z][A-Z0-9_]*)"/.exec(text.slice(i));
      if (m !== null && !compared(text, i)) out.push({ reason: m[1] as string, index: i });
      for (i++; i < end && text[i] !== '"'; i++) if (text[i] === "\\") i++;
    } else if ((c === "'" || c === "`") && depth === 0) {
      for (i++; i < end && text[i] !== c; i++) if (text[i] === "\\") i++;
    }
  }
  return out;
}

/**
 * Scans `files` (path -> text). `errorClasses` are the domain error classes known up front (rpc-kit's);
 * classes extending them in the scanned files are added.
 */
export function scanErrorReasons(
  files: ReadonlyMap<string, string>,
  errorClasses: readonly string[],
): ScanResult {
  const sent: FoundReason[] = [];
  const fieldViolation: FoundReason[] = [];
  const classes = new Set(errorClasses);
  for (let grew = true; grew; ) {
    grew = false;
    for (const text of files.values()) {
      for (const m of text.matchAll(/class\s+(\w+)\s+extends\s+(\w+)/g)) {
        if (classes.has(m[2] as string) && !classes.has(m[1] as string)) {
          classes.add(m[1] as string);
          grew = true;
        }
      }
    }
  }
  const helpers = new Set<string>();
  for (const text of files.values()) {
    for (const m of text.matchAll(/function\s+(\w+)\s*\(([^)]*)\)/g)) {
      if (/:\s*ErrorReasonName\b/.test(m[2] as string)) helpers.add(m[1] as string);
    }
  }

  for (const [file, text] of files) {
    const add = (list: FoundReason[], reason: string, index: number) =>
      list.push({ reason, at: `${file}:${lineOf(text, index)}` });

    // Rule 1: `reason` keys, parameters and fields.
    for (const m of text.matchAll(/\breason\??\s*(?::|=(?!=))/g)) {
      const from = (m.index as number) + m[0].length;
      const rest = text.slice(from);
      const stop = rest.search(/[,;){}\n]/);
      const segment = stop === -1 ? rest : rest.slice(0, stop);
      const literals = [...segment.matchAll(LITERAL)];
      if (literals.length === 0) continue;
      const brace = enclosingBrace(text, m.index as number);
      const isViolation =
        brace !== -1 &&
        /(?:^|[\s,])field\s*(?:[:,]|$)/.test(topLevel(text.slice(brace, closing(text, brace))));
      for (const l of literals) {
        const at = from + (l.index as number);
        if (!compared(text, at)) add(isViolation ? fieldViolation : sent, l[1] as string, at);
      }
    }

    // Rule 2: declarations typed with ErrorReasonName.
    for (const m of text.matchAll(/:\s*[^=;\n]*\bErrorReasonName\b[^=;\n]*=\s*(?=[{[("])/g)) {
      const open = (m.index as number) + m[0].length;
      const single = /^"([A-Z][A-Z0-9_]*)"/.exec(text.slice(open));
      if (single !== null) {
        add(sent, single[1] as string, open);
        continue;
      }
      const body = text.slice(open, closing(text, open));
      for (const l of body.matchAll(LITERAL)) add(sent, l[1] as string, open + (l.index as number));
    }
    for (const m of text.matchAll(/<ErrorReasonName>\s*\(/g)) {
      const open = (m.index as number) + m[0].length - 1;
      const body = text.slice(open, closing(text, open));
      for (const l of body.matchAll(LITERAL)) add(sent, l[1] as string, open + (l.index as number));
    }

    // Rule 3: literals passed to error constructors, super() of error subclasses, and reason helpers.
    const callees = [...classes].map((c) => `new\\s+${c}`).concat([...helpers].map((h) => `(?<![\\w.])${h}`));
    const definesErrorClass = [...text.matchAll(/class\s+\w+\s+extends\s+(\w+)/g)].some((c) =>
      classes.has(c[1] as string),
    );
    if (definesErrorClass) callees.push("\\bsuper");
    if (callees.length > 0) {
      const call = new RegExp(`(?:${callees.join("|")})\\s*\\(`, "g");
      for (const m of text.matchAll(call)) {
        const open = (m.index as number) + m[0].length - 1;
        for (const a of directArguments(text, open)) add(sent, a.reason, a.index);
      }
    }
  }
  return { sent, fieldViolation };
}
