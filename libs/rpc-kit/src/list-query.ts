/**
 * Shared machinery for the AIP-160 filter subset and AIP-132 `order_by` of the List RPCs: conjunctions
 * (`AND`) of comparisons `field op value` with op one of = != < <= > >= (optionally `:`), values as string
 * literals in double quotes (with `\"` escapes) or bare words. {@link parseConjunction} only scans the text,
 * checks field names against the table and hands each comparison to the caller; the typed field specs and
 * value checks of every List RPC are list-filter.ts (`parseListFilter`). Errors are INVALID_ARGUMENT naming
 * the (1-based) position.
 */
import { InvalidArgumentError } from "./errors.js";

/** A comparison value as written: the text (unquoted and unescaped), whether it was quoted, where it began. */
export interface QueryValue {
  text: string;
  quoted: boolean;
  pos: number;
}

/** One scanned comparison; `kind` is the field-table entry for `field`. */
export interface QueryComparison<K> {
  field: string;
  kind: K;
  op: string;
  /** Position of the field name. */
  pos: number;
  /** Position of the operator. */
  opPos: number;
  value: QueryValue;
}

/** Descriptions of the syntax errors; the defaults are the planning / alert wording. */
export interface FilterMessages {
  /** Where a field name was expected but `got` (a token's text) stands. */
  expectedField: (got: string, known: readonly string[]) => string;
  fieldAfterAnd: string;
  unknownField: (name: string, known: readonly string[]) => string;
  expectedOp: string;
  expectedValue: string;
  expectedAnd: (got: string) => string;
  unterminated: string;
}

/** Up-front tokenising of the whole input: these lexical errors win over any later syntax error. */
export interface LexicalCheck {
  /** A character no token can start with. */
  unexpectedChar: (c: string) => string;
  /** A `!` not followed by `=`. */
  bang: string;
}

export interface FilterSyntax {
  /** The request field named in errors (default "filter"). */
  requestField?: string;
  /** The field violation's reason (default "INVALID_SYNTAX"). */
  violationReason?: string;
  /** Longer input is TOO_LONG. */
  maxLength?: number;
  /** More comparisons than this fail at the offending field. */
  maxComparisons?: number;
  /** Also accept `:` ("has") as an operator. */
  colon?: boolean;
  /** Report an unterminated string at the end of the input rather than at its opening quote. */
  unterminatedAtEnd?: boolean;
  /** Field names (sticky regexp); default a bare word. */
  field?: RegExp;
  /** Unquoted values (sticky regexp); default a bare word. */
  bareValue?: RegExp;
  /** Tokenise everything first (default: the planning wording); `false` scans left to right only. */
  lexical?: LexicalCheck | false;
  /** Called as soon as a comparison's operator is read, before its value (e.g. to refuse `<` on enums). */
  onOperator?: (field: string, op: string, opPos: number) => void;
  messages?: Partial<FilterMessages>;
}

const WORD = /[A-Za-z0-9_.+:-][A-Za-z0-9_.+:/-]*/y;
const OP = /<=|>=|!=|=|<|>/y;
const OP_COLON = /<=|>=|!=|=|<|>|:/y;

const DEFAULT_LEXICAL: LexicalCheck = {
  unexpectedChar: (c) => `unexpected character '${c}' (supported: field op value joined by AND)`,
  bang: "unexpected '!'",
};

const DEFAULT_MESSAGES: FilterMessages = {
  expectedField: (got, known) => DEFAULT_MESSAGES.unknownField(got, known),
  fieldAfterAnd: "expected a field after AND",
  unknownField: (name, known) => `unknown field '${name}' (filterable: ${known.join(", ")})`,
  expectedOp: "expected a comparison operator (=, !=, <, <=, >, >=)",
  expectedValue: "expected a value",
  expectedAnd: (got) => `expected AND, got '${got}' (OR, NOT and parentheses are not supported)`,
  unterminated: "unterminated string",
};

/** INVALID_ARGUMENT for `field` with "at position N: description". */
export function queryError(
  field: string,
  pos: number,
  description: string,
  violationReason = "INVALID_SYNTAX",
): never {
  throw new InvalidArgumentError([
    { field, description: `at position ${pos + 1}: ${description}`, reason: violationReason },
  ]);
}

function match(re: RegExp, input: string, at: number): string | undefined {
  re.lastIndex = at;
  return re.exec(input)?.[0];
}

/** The double-quoted string at `at` (unescaped) and the index after it; undefined when unterminated. */
function readString(input: string, at: number): { text: string; end: number } | undefined {
  let j = at + 1;
  let text = "";
  while (j < input.length && input[j] !== '"') {
    if (input[j] === "\\" && j + 1 < input.length) j++;
    text += input[j];
    j++;
  }
  return j >= input.length ? undefined : { text, end: j + 1 };
}

/**
 * Scans `input` as comparisons joined by AND over the fields of `fields`, calling `each` for every comparison
 * in order (so a conversion error in one comparison is reported before a syntax error after it).
 * Empty (or blank) input means no comparisons.
 */
export function parseConjunction<K, T>(
  input: string,
  fields: Readonly<Record<string, K>>,
  syntax: FilterSyntax,
  each: (comparison: QueryComparison<K>) => T,
): T[] {
  const requestField = syntax.requestField ?? "filter";
  const violationReason = syntax.violationReason ?? "INVALID_SYNTAX";
  const msg: FilterMessages = { ...DEFAULT_MESSAGES, ...syntax.messages };
  const fail = (pos: number, description: string): never =>
    queryError(requestField, pos, description, violationReason);
  if (syntax.maxLength !== undefined && input.length > syntax.maxLength) {
    throw new InvalidArgumentError([
      {
        field: requestField,
        description: `must be at most ${syntax.maxLength} characters`,
        reason: "TOO_LONG",
      },
    ]);
  }
  const fieldRe = syntax.field ?? WORD;
  const valueRe = syntax.bareValue ?? WORD;
  const opRe = syntax.colon === true ? OP_COLON : OP;
  const known = Object.keys(fields);
  const lexical = syntax.lexical ?? DEFAULT_LEXICAL;
  if (lexical !== false) {
    for (let j = 0; j < input.length; ) {
      const c = input[j] as string;
      const len = /\s/.test(c) ? 1 : (match(opRe, input, j) ?? match(WORD, input, j))?.length;
      if (len !== undefined) j += len;
      else if (c === '"') j = readString(input, j)?.end ?? fail(j, msg.unterminated);
      else fail(j, c === "!" ? lexical.bang : lexical.unexpectedChar(c));
    }
  }
  /** The text of the token at `at` (for messages). */
  const tokenText = (at: number): string =>
    input[at] === '"'
      ? (readString(input, at)?.text ?? '"')
      : (match(WORD, input, at) ?? match(opRe, input, at) ?? (input[at] as string));

  let i = 0;
  const ws = () => {
    while (i < input.length && /\s/.test(input[i] as string)) i++;
  };
  const out: T[] = [];
  ws();
  while (i < input.length) {
    if (out.length > 0) {
      if (match(WORD, input, i) !== "AND") fail(i, msg.expectedAnd(tokenText(i)));
      i += 3;
      ws();
      if (i >= input.length) fail(i, msg.fieldAfterAnd);
    }
    const pos = i;
    const field = match(fieldRe, input, i) ?? fail(i, msg.expectedField(tokenText(i), known));
    if (!Object.hasOwn(fields, field)) fail(pos, msg.unknownField(field, known));
    i += field.length;
    ws();
    const opPos = i;
    const op = (i < input.length ? match(opRe, input, i) : undefined) ?? fail(i, msg.expectedOp);
    i += op.length;
    syntax.onOperator?.(field, op, opPos);
    ws();
    let value: QueryValue;
    if (input[i] === '"') {
      const str =
        readString(input, i) ?? fail(syntax.unterminatedAtEnd === true ? input.length : i, msg.unterminated);
      value = { text: str.text, quoted: true, pos: i };
      i = str.end;
    } else {
      const text = (i < input.length ? match(valueRe, input, i) : undefined) ?? fail(i, msg.expectedValue);
      value = { text, quoted: false, pos: i };
      i += text.length;
    }
    out.push(each({ field, kind: fields[field] as K, op, pos, opPos, value }));
    if (syntax.maxComparisons !== undefined && out.length > syntax.maxComparisons) {
      fail(pos, `at most ${syntax.maxComparisons} comparisons`);
    }
    ws();
  }
  return out;
}

export interface OrderBySyntax {
  /** The request field named in errors (default "order_by"). */
  requestField?: string;
  /** Longer (trimmed) input fails with "too long". */
  maxLength?: number;
  /** Accept only lower-case "asc"/"desc" (default: any case). */
  caseSensitive?: boolean;
  /**
   * Report every mistake as this one description (without a position) and reason; unset means
   * INVALID_SYNTAX naming the position of the mistake.
   */
  summary?: { violationReason: string; description: (fields: readonly string[]) => string };
}

/** Parses `order_by`: exactly one of `fields`, optionally followed by " asc" or " desc"; "" means `fallback`. */
export function parseOrderBy<F extends string>(
  input: string,
  fields: readonly F[],
  fallback: { field: F; desc: boolean },
  syntax: OrderBySyntax = {},
): { field: F; desc: boolean } {
  const requestField = syntax.requestField ?? "order_by";
  const fail = (pos: number, description: string): never => {
    if (syntax.summary !== undefined) {
      const { violationReason: reason, description: summary } = syntax.summary;
      throw new InvalidArgumentError([{ field: requestField, description: summary(fields), reason }]);
    }
    return queryError(requestField, pos, description);
  };
  const text = input.trim();
  if (text === "") return fallback;
  if (syntax.maxLength !== undefined && text.length > syntax.maxLength) fail(syntax.maxLength, "too long");
  const parts = text.split(/\s+/);
  const field = parts[0] as string;
  const direction = syntax.caseSensitive === true ? parts[1] : parts[1]?.toLowerCase();
  if (text.includes(",")) fail(text.indexOf(","), "only one order field is supported");
  if (!fields.includes(field as F)) fail(0, `unknown field '${field}' (sortable: ${fields.join(", ")})`);
  if (parts.length > 2 || (direction !== undefined && direction !== "desc" && direction !== "asc")) {
    fail(field.length + 1, "expected ' desc' or ' asc' after the field");
  }
  return { field: field as F, desc: direction === "desc" };
}

/**
 * Parses a multi-key `order_by`: comma-separated `fields`, each optionally followed by "asc" or "desc" (any
 * case), no field twice; "" means `fallback`. Errors are INVALID_FILTER naming the position of the key.
 */
export function parseOrderKeys<F extends string>(
  input: string,
  fields: readonly F[],
  fallback: readonly { field: F; desc: boolean }[],
  requestField = "order_by",
): { field: F; desc: boolean }[] {
  const fail = (pos: number, description: string): never =>
    queryError(requestField, pos, description, "INVALID_FILTER");
  if (input.trim() === "") return [...fallback];
  const keys: { field: F; desc: boolean }[] = [];
  let pos = 0;
  for (const part of input.split(",")) {
    const lead = part.length - part.trimStart().length;
    const words = part.trim().split(/\s+/);
    const name = words[0] ?? "";
    if (!(fields as readonly string[]).includes(name)) {
      fail(pos + lead, `unsupported order field '${name}' (supported: ${fields.join(", ")})`);
    }
    if (words.length > 2 || (words[1] !== undefined && !/^(asc|desc)$/i.test(words[1]))) {
      fail(pos + lead, `expected "${name}", "${name} asc" or "${name} desc"`);
    }
    if (keys.some((k) => k.field === name)) fail(pos + lead, `'${name}' appears twice`);
    keys.push({ field: name as F, desc: words[1]?.toLowerCase() === "desc" });
    pos += part.length + 1;
  }
  return keys;
}
