import { InternalError } from "../contract/errors.js";
import type { PositionedEvent, Query, ReadRequest, ReadResponse } from "../contract/types.js";

export interface ReadOptions {
  /** The first position to consider, inclusive; by default the first, or with `backwards` the last. */
  from?: number;
  /** Descending positions, from `from` down. */
  backwards?: boolean;
  /** At most this many events in all (an integer >= 1); by default every matching event. */
  limit?: number;
  /** Events per request (1..10000); by default as many as fit in one reply. */
  pageSize?: number;
}

/** The largest `limit` a read request may ask for (read.request.json). */
const MAX_PAGE = 10_000;

/**
 * The events of the whole log that match a query, in position order, across as many `read`
 * requests as it takes (it follows `hasMore`). Each iteration reads anew. After one, `head` is the
 * position to give a condition's `after` for a decision made on what it returned.
 */
export class LogRead implements AsyncIterable<PositionedEvent> {
  #head: number | undefined;

  constructor(
    private readonly readPage: (request: ReadRequest) => Promise<ReadResponse>,
    private readonly query: Query | undefined,
    private readonly options: ReadOptions,
  ) {
    const { limit } = options;
    if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 1))
      throw new RangeError(`limit must be an integer >= 1, got ${limit}`);
  }

  /**
   * A position up to which every matching event (from `from` on) was returned, for a condition's
   * `after`: undefined until the read has returned something to stand on. Forwards, the position
   * of the latest event returned, and the last page's head once every page is read (a later page
   * saw more of the log); backwards, the first page's head (events stored since lie above where
   * the read started), also when the iteration stops early.
   */
  get head(): number | undefined {
    return this.#head;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<PositionedEvent, void> {
    const { backwards = false, limit, pageSize } = this.options;
    let from = this.options.from;
    let remaining = limit ?? Number.POSITIVE_INFINITY;
    this.#head = undefined;
    for (let first = true; ; first = false) {
      const want = Math.min(pageSize ?? remaining, remaining);
      const page = await this.readPage({
        ...(this.query !== undefined ? { query: this.query } : {}),
        ...(from !== undefined ? { from } : {}),
        ...(want <= MAX_PAGE ? { limit: want } : {}),
        ...(backwards ? { backwards } : {}),
      });
      if (first && backwards) this.#head = page.head;
      const entries = page.events.slice(0, remaining);
      for (const entry of entries) {
        // Before the yield: a caller that stops here has this event.
        if (!backwards) this.#head = entry.position;
        yield entry;
      }
      remaining -= entries.length;
      if (!page.hasMore) {
        if (!backwards && entries.length === page.events.length) this.#head = page.head;
        return;
      }
      if (remaining <= 0) return;
      const last = page.events.at(-1);
      if (!last) throw new InternalError("read: an empty page that says more follow");
      from = backwards ? last.position - 1 : last.position + 1;
      // Nothing lies below position 1 (and a from of 0 would mean "from the last" backwards).
      if (from < 1) return;
    }
  }
}
