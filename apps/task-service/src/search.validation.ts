/** SearchTasks request validation, its page token, and the ListTasks filter as a SQL condition. */
import { createHash } from "node:crypto";
import type { RawBuilder } from "@taskmaster/persistence/task-filter.columns";
import type { SearchTasksRequest } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { validator } from "@taskmaster/rpc-kit/validation";
import { compileTaskFilter as compileListFilter } from "./task.filter.js";

/**
 * The ListTasks filter as a condition over `tasks t`, or null when empty; syntax errors are INVALID_ARGUMENT
 * naming `field`.
 */
export function compileTaskFilter(field: string, input: string): RawBuilder<unknown> | null {
  if (input.trim() === "") return null;
  return compileListFilter(input, field).condition;
}

export interface ValidSearch {
  query: string;
  /** A condition over `tasks t`. */
  filter: RawBuilder<unknown> | null;
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
