/** SearchTasks request validation, its page token, and the ListTasks filter as a SQL condition. */
import { createHash } from "node:crypto";
import type { TaskCondition } from "@taskmaster/persistence/search.repository";
import type { SearchTasksRequest } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { InvalidArgumentError } from "@taskmaster/rpc-kit/errors";
import { validator } from "@taskmaster/rpc-kit/validation";
import { parseTaskFilter } from "./task.filter.js";

const LEGACY_COLUMNS: Record<string, string> = {
  status: "t.status",
  priority: "t.priority",
  type: "t.type",
  assignedTo: "t.assigned_to",
  sprintId: "t.sprint_id",
  epicId: "t.epic_id",
  parentId: "t.parent_id",
};

/**
 * The ListTasks filter (task.filter.ts, owned by the tasks slice) as a condition over `tasks t`. Accepts
 * either a compiled `{ sql, params }` fragment or the equality-object form, whichever task.filter produces;
 * syntax errors surface as INVALID_ARGUMENT on `field`.
 */
export function compileTaskFilter(field: string, input: string): TaskCondition | null {
  if (input.trim() === "") return null;
  let parsed: unknown;
  try {
    parsed = parseTaskFilter(input);
  } catch (error) {
    if (error instanceof InvalidArgumentError && field !== "filter") {
      throw new InvalidArgumentError(error.fieldViolations.map((v) => ({ ...v, field })));
    }
    throw error;
  }
  if (parsed === null || parsed === undefined) return null;
  if (typeof parsed === "object" && "sql" in parsed && typeof (parsed as TaskCondition).sql === "string") {
    const c = parsed as TaskCondition;
    return c.sql.trim() === "" ? null : { sql: c.sql, params: [...c.params] };
  }
  const parts: string[] = [];
  const params: unknown[] = [];
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    const column = LEGACY_COLUMNS[key];
    if (column === undefined || value === undefined || value === null) continue;
    parts.push(`${column} = ?`);
    params.push(value);
  }
  return parts.length === 0 ? null : { sql: parts.join(" and "), params };
}

export interface ValidSearch {
  query: string;
  filter: TaskCondition | null;
  fuzzy: boolean;
  minSimilarity: number;
  pageSize: number;
  offset: number;
  highlightStart: string;
  highlightEnd: string;
  includeDeleted: boolean;
}

/** Binds a page token to every request field except paging. */
function requestKey(req: SearchTasksRequest): string {
  return createHash("sha256")
    .update(
      JSON.stringify([
        req.query,
        req.filter,
        req.fuzzy,
        req.minSimilarity,
        req.showDeleted,
        req.highlightStart,
        req.highlightEnd,
      ]),
    )
    .digest("base64url")
    .slice(0, 16);
}

export function encodeSearchToken(req: SearchTasksRequest, offset: number): string {
  return Buffer.from(JSON.stringify(["s1", requestKey(req), offset])).toString("base64url");
}

function decodeSearchToken(req: SearchTasksRequest, token: string): number | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (
      Array.isArray(v) &&
      v[0] === "s1" &&
      v[1] === requestKey(req) &&
      Number.isSafeInteger(v[2]) &&
      v[2] > 0
    ) {
      return v[2] as number;
    }
  } catch {
    // fall through
  }
  return undefined;
}

export function validateSearch(req: SearchTasksRequest): ValidSearch {
  const v = validator();
  if (v.required("query", req.query)) v.length("query", req.query, 1, 500);
  if (req.query.includes("\0")) v.add("query", "must not contain NUL characters", "INVALID_CHARACTER");
  v.range("min_similarity", req.minSimilarity, 0, 1);
  const pageSize = v.pageSize("page_size", req.pageSize, { defaultSize: 20, max: 100 });
  let offset = 0;
  if (req.pageToken !== "") {
    const decoded = decodeSearchToken(req, req.pageToken);
    if (decoded === undefined)
      v.add(
        "page_token",
        "is not a token from a previous SearchTasks response with the same query",
        "INVALID_PAGE_TOKEN",
      );
    else offset = decoded;
  }
  v.maxLength("highlight_start", req.highlightStart, 64);
  v.maxLength("highlight_end", req.highlightEnd, 64);
  v.check();
  const filter = compileTaskFilter("filter", req.filter);
  return {
    query: req.query,
    filter,
    fuzzy: req.fuzzy,
    minSimilarity: req.minSimilarity === 0 ? 0.3 : req.minSimilarity,
    pageSize,
    offset,
    highlightStart: req.highlightStart === "" ? "<mark>" : req.highlightStart,
    highlightEnd: req.highlightEnd === "" ? "</mark>" : req.highlightEnd,
    includeDeleted: req.showDeleted,
  };
}
