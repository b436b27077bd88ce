/**
 * The development console: the launcher reads every member's JSON log lines (pino) and prints each event on
 * one readable line, `12:34:56.789 INFO  task-service  message  key=value ...`, coloured on a terminal.
 * Services keep writing JSON (as in staging and production); `--json` / `LOG_FORMAT=json` prints them raw.
 * Lines that are not JSON log records (a crash trace, a tool's output) pass through with the member's name.
 */

export interface ConsoleFormatOptions {
  /** ANSI colours (a terminal without NO_COLOR). */
  readonly color: boolean;
  /** Raw JSON lines prefixed with the member's name, as the services write them. */
  readonly json?: boolean;
}

/** Formats one output line of the member `member`; returns the line to print (without newline). */
export type ConsoleFormatter = (member: string, line: string) => string;

const LEVELS: Record<string, { label: string; color: string }> = {
  trace: { label: "TRACE", color: "90" },
  debug: { label: "DEBUG", color: "36" },
  info: { label: "INFO ", color: "32" },
  warn: { label: "WARN ", color: "33" },
  error: { label: "ERROR", color: "31" },
  fatal: { label: "FATAL", color: "41;97" },
};
const NUMERIC_LEVELS: Record<number, string> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};

/** Fields every line carries that the console shows otherwise (time, level, member) or not at all. */
const HIDDEN = new Set(["time", "level", "msg", "service", "pid", "hostname", "v"]);

/** A console colour per member, stable for its name. */
const MEMBER_COLORS = ["35", "34", "36", "33", "32", "95", "94", "96"];

function memberColor(member: string): string {
  let h = 0;
  for (const ch of member) h = (h * 31 + (ch.codePointAt(0) ?? 0)) >>> 0;
  return MEMBER_COLORS[h % MEMBER_COLORS.length] ?? "0";
}

function value(v: unknown): string {
  if (typeof v === "string") return /[\s"=]/.test(v) || v === "" ? JSON.stringify(v) : v;
  if (v !== null && typeof v === "object" && "message" in v && typeof v.message === "string") {
    // An error: its type and message on the line; the stack stays in the JSON (`--json`).
    const type = "type" in v && typeof v.type === "string" ? `${v.type}: ` : "";
    return JSON.stringify(`${type}${v.message}`);
  }
  return JSON.stringify(v) ?? String(v);
}

function clock(time: unknown): string {
  const date = typeof time === "string" || typeof time === "number" ? new Date(time) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) return "--:--:--.---";
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function parseRecord(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return undefined;
    const record = parsed as Record<string, unknown>;
    return "level" in record && "msg" in record ? record : undefined;
  } catch {
    return undefined;
  }
}

export function createConsoleFormatter(options: ConsoleFormatOptions): ConsoleFormatter {
  const paint = (code: string, text: string) => (options.color ? `\u001b[${code}m${text}\u001b[0m` : text);
  return (member, line) => {
    const record = options.json ? undefined : parseRecord(line);
    const name = paint(memberColor(member), member.padEnd(18));
    if (!record)
      return options.json
        ? `${member} | ${line}`
        : `${paint("90", clock(Date.now()))}       ${name}  ${line}`;
    const levelName =
      typeof record.level === "number" ? (NUMERIC_LEVELS[record.level] ?? "info") : String(record.level);
    const level = LEVELS[levelName] ?? { label: levelName.toUpperCase().padEnd(5), color: "0" };
    const fields = Object.entries(record)
      .filter(([k, v]) => !HIDDEN.has(k) && v !== undefined)
      .map(([k, v]) => `${paint("90", `${k}=`)}${value(v)}`);
    const msg = String(record.msg);
    return [
      paint("90", clock(record.time)),
      paint(level.color, level.label),
      name,
      levelName === "error" || levelName === "fatal" ? paint("31", msg) : msg,
      ...fields,
    ].join(" ");
  };
}

/** The launcher's choice: raw JSON when asked (`--json`, LOG_FORMAT=json), else pretty; colour on a TTY. */
export function consoleFormatOptions(
  env: NodeJS.ProcessEnv,
  json: boolean,
  isTTY: boolean | undefined,
): ConsoleFormatOptions {
  return {
    json: json || env.LOG_FORMAT === "json",
    color: env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0" ? true : Boolean(isTTY) && !env.NO_COLOR,
  };
}
