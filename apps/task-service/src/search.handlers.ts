/** TaskService SearchTasks: ranked full text + fuzzy trigram matching with highlighted snippets. */

import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { HIGHLIGHT_END, HIGHLIGHT_START, SearchRepository } from "@taskmaster/persistence/search.repository";
import type { TaskRow } from "@taskmaster/persistence/task.repository";
import {
  type SearchTasksRequest,
  SearchTasksResponseSchema,
  type TaskService,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { encodeSearchToken, validateSearch } from "./search.validation.js";
import { resolveStatusTransitions, type StatusTransitionTable } from "./status-transitions.js";
import { taskToMessage } from "./task.mapper.js";

export interface SearchHandlerDeps {
  readonly orm: MikroORM;
  /** Status table override (its "done" set decides which blockers are open); default env, else built-in. */
  readonly statusTransitions?: StatusTransitionTable | string | undefined;
}

export function createSearchHandlers(
  deps: SearchHandlerDeps,
): Pick<ServiceImpl<typeof TaskService>, "searchTasks"> {
  const done = resolveStatusTransitions(deps.statusTransitions).done;
  const toMessage = (row: TaskRow) => taskToMessage(row, done);
  return {
    async searchTasks(req: SearchTasksRequest) {
      const s = validateSearch(req);
      const { hits, total } = await new SearchRepository(deps.orm.em.fork()).search({
        query: s.query,
        filter: s.filter,
        fuzzy: s.fuzzy,
        minSimilarity: s.minSimilarity,
        limit: s.pageSize + 1,
        offset: s.offset,
        includeDeleted: s.includeDeleted,
      });
      const page = hits.slice(0, s.pageSize);
      const mark = (text: string) =>
        text.split(HIGHLIGHT_START).join(s.highlightStart).split(HIGHLIGHT_END).join(s.highlightEnd);
      return create(SearchTasksResponseSchema, {
        results: page.map((hit) => ({
          task: toMessage(hit.task),
          score: hit.score,
          fuzzyMatch: hit.fuzzyOnly,
          snippets: hit.snippets.map((snippet) => ({ field: snippet.field, text: mark(snippet.text) })),
        })),
        nextPageToken: hits.length > s.pageSize ? encodeSearchToken(req, s.offset + s.pageSize) : "",
        totalSize: Math.min(total, 2_147_483_647),
      });
    },
  };
}
