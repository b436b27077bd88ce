/**
 * Async iteration over AIP-158 List/Search pages: follows `next_page_token` until it is empty and yields each
 * item, so `for await (const task of tm.tasks.list({ filter }))` reads every page without bookkeeping.
 */
export interface PagedRequest {
  pageToken?: string;
  pageSize?: number;
}

export interface PagedResponse {
  nextPageToken: string;
}

export async function* paginate<Req extends PagedRequest, Res extends PagedResponse, Item>(
  fetchPage: (request: Req) => Promise<Res>,
  request: Req,
  items: (response: Res) => readonly Item[],
): AsyncGenerator<Item, void, undefined> {
  let pageToken = request.pageToken ?? "";
  do {
    const response = await fetchPage({ ...request, pageToken });
    yield* items(response);
    pageToken = response.nextPageToken;
  } while (pageToken !== "");
}

/** Collects an async iterable into an array (at most `limit` items). */
export async function collect<T>(iterable: AsyncIterable<T>, limit = Number.POSITIVE_INFINITY): Promise<T[]> {
  const out: T[] = [];
  if (limit <= 0) return out;
  for await (const item of iterable) {
    out.push(item);
    if (out.length >= limit) break;
  }
  return out;
}
