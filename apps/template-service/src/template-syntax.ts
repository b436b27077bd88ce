/**
 * Write-time check that template content compiles with Handlebars. A syntax error becomes INVALID_ARGUMENT
 * (reason TEMPLATE_SYNTAX) carrying a TemplateSyntaxErrorDetail with the 1-based line and column.
 */
import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { TemplateSyntaxErrorDetailSchema } from "@taskmaster/proto/gen/taskmaster/template/v1/template_pb";
import { InvalidArgumentError } from "@taskmaster/rpc-kit/errors";
import Handlebars from "handlebars";

export interface SyntaxProblem {
  line: number;
  column: number;
  message: string;
}

/** INVALID_ARGUMENT for content that does not compile, with a TemplateSyntaxErrorDetail. */
export class TemplateSyntaxError extends InvalidArgumentError {
  constructor(
    readonly field: string,
    readonly problem: SyntaxProblem,
  ) {
    super(
      [
        {
          field,
          description: `does not compile at line ${problem.line}, column ${problem.column}: ${problem.message}`,
          reason: "TEMPLATE_SYNTAX",
        },
      ],
      `template syntax error at line ${problem.line}, column ${problem.column}`,
    );
  }
  protected override extraDetails() {
    return [
      ...super.extraDetails(),
      {
        desc: TemplateSyntaxErrorDetailSchema as DescMessage,
        value: { ...this.problem } as MessageInitShape<DescMessage>,
      },
    ];
  }
}

interface LexerState {
  yylloc?: { first_line?: number; first_column?: number };
}

/** The first syntax problem of `content`, or null when it compiles. */
export function findSyntaxProblem(content: string): SyntaxProblem | null {
  try {
    Handlebars.precompile(content, { strict: false });
    return null;
  } catch (err) {
    const e = err as { message?: string; lineNumber?: number; column?: number };
    const raw = String(e.message ?? "syntax error");
    // The message's first line; the rest is an excerpt with a caret we replace by line/column.
    const message = (raw.split("\n").pop() ?? raw).slice(0, 300);
    if (typeof e.lineNumber === "number") {
      return { line: e.lineNumber, column: (e.column ?? 0) + 1, message: raw.split("\n")[0] ?? raw };
    }
    // Jison parse errors: the lexer still holds the location of the offending token (parse is synchronous).
    const lexer = (Handlebars as unknown as { Parser?: { lexer?: LexerState } }).Parser?.lexer;
    const loc = lexer?.yylloc;
    const lineFromMessage = /line (\d+)/.exec(raw)?.[1];
    return {
      line: loc?.first_line ?? (lineFromMessage ? Number(lineFromMessage) : 1),
      column: (loc?.first_column ?? 0) + 1,
      message,
    };
  }
}

/** Throws TemplateSyntaxError when `content` does not compile. */
export function assertCompiles(field: string, content: string): void {
  const problem = findSyntaxProblem(content);
  if (problem) throw new TemplateSyntaxError(field, problem);
}
