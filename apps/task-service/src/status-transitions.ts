/**
 * The status transition table: which statuses are reachable from each status without `force`, and which
 * statuses count as "done" for blockers. A sensible default lives here; deployments may override it with
 * JSON (env `TASK_STATUS_TRANSITIONS` or `TaskServerDeps.statusTransitions`), validated at start-up:
 *
 *   {"transitions": {"pending": ["ready", "cancelled"], ...}, "done": ["completed", "cancelled"]}
 *
 * Statuses are the lower-case value set ("in_progress"); a status missing from `transitions` is terminal.
 */
import { TASK_STATUSES, type TaskStatus } from "@taskmaster/persistence/value-sets";

export interface StatusTransitionTable {
  readonly transitions: Readonly<Record<TaskStatus, readonly TaskStatus[]>>;
  readonly done: readonly TaskStatus[];
}

export const DEFAULT_STATUS_TRANSITIONS: StatusTransitionTable = {
  transitions: {
    draft: ["pending", "ready", "cancelled", "archived"],
    pending: ["draft", "ready", "in_progress", "blocked", "cancelled", "archived"],
    ready: ["pending", "in_progress", "blocked", "cancelled", "archived"],
    in_progress: ["ready", "blocked", "review", "testing", "completed", "failed", "cancelled"],
    blocked: ["pending", "ready", "in_progress", "failed", "cancelled"],
    review: ["in_progress", "testing", "completed", "failed", "cancelled"],
    testing: ["in_progress", "review", "completed", "failed", "cancelled"],
    completed: ["in_progress", "archived"],
    failed: ["pending", "ready", "in_progress", "archived"],
    cancelled: ["pending", "archived"],
    archived: ["pending"],
  },
  done: ["completed", "cancelled", "archived"],
};

/** Env variable holding a JSON override of the table. */
export const STATUS_TRANSITIONS_ENV = "TASK_STATUS_TRANSITIONS";

const isStatus = (v: unknown): v is TaskStatus =>
  typeof v === "string" && (TASK_STATUSES as readonly string[]).includes(v);

/**
 * Parses and validates a table given as JSON text or an object. Throws an Error naming every problem
 * (unknown statuses, self transitions, duplicates, wrong shapes) so a bad configuration fails start-up.
 */
export function parseStatusTransitions(input: string | unknown): StatusTransitionTable {
  let value: unknown = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch {
      throw new Error(`${STATUS_TRANSITIONS_ENV}: not valid JSON`);
    }
  }
  const problems: string[] = [];
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${STATUS_TRANSITIONS_ENV}: must be an object {"transitions": {...}, "done": [...]}`);
  }
  const { transitions, done, ...rest } = value as Record<string, unknown>;
  for (const key of Object.keys(rest)) problems.push(`unknown key "${key}"`);
  const table = Object.fromEntries(TASK_STATUSES.map((s) => [s, [] as TaskStatus[]])) as Record<
    TaskStatus,
    TaskStatus[]
  >;
  if (typeof transitions !== "object" || transitions === null || Array.isArray(transitions)) {
    problems.push(`"transitions" must be an object of status -> list of statuses`);
  } else {
    for (const [from, targets] of Object.entries(transitions)) {
      if (!isStatus(from)) {
        problems.push(`unknown status "${from}"`);
        continue;
      }
      if (!Array.isArray(targets)) {
        problems.push(`"${from}" must map to a list of statuses`);
        continue;
      }
      for (const to of targets) {
        if (!isStatus(to)) problems.push(`"${from}" -> unknown status ${JSON.stringify(to)}`);
        else if (to === from) problems.push(`"${from}" -> itself is not a transition`);
        else if (table[from].includes(to)) problems.push(`"${from}" -> "${to}" is listed twice`);
        else table[from].push(to);
      }
    }
  }
  let doneList: TaskStatus[] = [...DEFAULT_STATUS_TRANSITIONS.done];
  if (done !== undefined) {
    if (!Array.isArray(done)) problems.push(`"done" must be a list of statuses`);
    else {
      doneList = [];
      for (const s of done) {
        if (!isStatus(s)) problems.push(`"done": unknown status ${JSON.stringify(s)}`);
        else if (!doneList.includes(s)) doneList.push(s);
      }
    }
  }
  if (problems.length > 0) throw new Error(`${STATUS_TRANSITIONS_ENV}: ${problems.join("; ")}`);
  return { transitions: table, done: doneList };
}

/** The table to use: an explicit override (object or JSON, validated), else the default. */
export function resolveStatusTransitions(
  override: StatusTransitionTable | string | undefined,
): StatusTransitionTable {
  return override === undefined ? DEFAULT_STATUS_TRANSITIONS : parseStatusTransitions(override);
}

/** The table from env `TASK_STATUS_TRANSITIONS` (unset or blank: the default). Called by main.ts. */
export function statusTransitionsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): StatusTransitionTable {
  const raw = env[STATUS_TRANSITIONS_ENV];
  return raw === undefined || raw.trim() === "" ? DEFAULT_STATUS_TRANSITIONS : parseStatusTransitions(raw);
}
