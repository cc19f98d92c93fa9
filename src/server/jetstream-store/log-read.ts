import { InternalError } from "../../contract/errors.js";
import type { Query } from "../../contract/types.js";
import { type LogPage, type LogReadOptions, logEntryOverhead, logPageOverhead } from "../store/event-store.js";
import { matchesQuery } from "../store/query.js";
import type { LogMsg } from "./stored-msg.js";
import type { StreamsView } from "./streams-view.js";
import type { ResolvedLink } from "./tag-link.js";
import { resolved, TagWalk } from "./tag-walk.js";

// The read of the whole log (contract v3, `eventstore.read`; docs/design/v3-tags-read-conditions.md,
// section 1). Items with tags walk the chain of links of one of their tags, so the cost follows the
// tag's events, not the stream; anything else scans the events subjects over the range it covers.
// What is returned is decided by matchesQuery on each event's own body, whatever found it.

// Most gets by position sent at once while filling a page: each brings one event.
const GET_ROUND = 64;
// Most messages one batch of a scan asks for (each batch is also bounded by about one max_payload).
const SCAN_BATCH = 1000;
// The first window of a backwards scan, in positions; it grows while the page wants more.
const FIRST_WINDOW = 64;
// Candidates a forwards tag read takes from its walks at once while walking down to `from`.
const WALK_CHUNK = 256;

const decoder = new TextDecoder();

/** One page of the log, read under the head read first: nothing stored after it is returned. */
export async function readLog(view: StreamsView, options: LogReadOptions): Promise<LogPage> {
  try {
    // The stream's last sequence as its leader holds it: every acknowledged write is at or below it.
    const head = await view.lastSeq();
    const page = new Page(options, head);
    const query = options.query;
    const from = options.backwards ? Math.min(options.from ?? head, head) : (options.from ?? 1);
    if (options.backwards ? from < 1 : from > head) return page.reply();
    // An item without tags matches events of any tag: only a scan finds them all.
    if (!query || query.items.some((item) => !item.tags)) {
      await (options.backwards ? scanBackwards(view, query, from, page) : scanForwards(view, query, from, page));
    } else {
      await byTags(view, query, from, options.backwards ?? false, page);
    }
    return page.reply();
  } catch (err) {
    throw view.seen(err);
  }
}

/** What a page holds so far, bounded by its limit and its bytes (the reply's, envelope included). */
class Page {
  readonly entries: { position: number; json: Uint8Array }[] = [];
  hasMore = false;
  private used = 0;
  private readonly limit: number;
  readonly budget: number;

  constructor(
    options: LogReadOptions,
    readonly head: number,
  ) {
    this.limit = options.limit ?? Number.MAX_SAFE_INTEGER;
    this.budget = options.maxBytes - logPageOverhead(head);
  }

  get full(): boolean {
    return this.entries.length >= this.limit;
  }

  /** The events the page still wants. */
  get wanting(): number {
    return this.limit - this.entries.length;
  }

  /** Adds the event when the page has room for it; a page holds at least one event. */
  add(msg: LogMsg): boolean {
    const cost = msg.data.length + logEntryOverhead(msg.seq);
    if (this.used + cost > this.budget) {
      if (this.entries.length === 0) {
        throw new InternalError(`the event at position ${msg.seq} (${msg.data.length} bytes) is larger than a page`);
      }
      return false;
    }
    this.entries.push({ position: msg.seq, json: msg.data });
    this.used += cost;
    return true;
  }

  /**
   * How many candidates to fetch at once: what the page still wants and one more (so that a full
   * page often knows at once whether a match follows), no more than its bytes hold at the size of
   * those it holds.
   */
  round(): number {
    // A full page only looks for one more match: a round as large as any.
    if (this.full) return GET_ROUND;
    const count = this.entries.length;
    const byBytes = count > 0 ? Math.ceil(((this.budget - this.used) * count) / this.used) + 1 : GET_ROUND;
    return Math.max(1, Math.min(GET_ROUND, this.wanting + 1, byBytes));
  }

  reply(): LogPage {
    return { entries: this.entries, hasMore: this.hasMore, head: this.head };
  }
}

/** Whether a message is an event the query asks for: on an events subject, not a tombstone, matching. */
function wanted(view: StreamsView, msg: LogMsg, query: Query | undefined): boolean {
  if (msg.erased || !msg.subject.startsWith(view.subjects.eventsPrefix)) return false;
  return query === undefined || matchesQuery(JSON.parse(decoder.decode(msg.data)), query);
}

/**
 * Adds matches in order while the page has room. "left": a match did not fit, so the page has more
 * (hasMore set); "full": every match fitted and the page is full, so only a match further on can
 * say whether it has more; "room": the page wants more.
 */
function addAll(page: Page, matches: LogMsg[]): "left" | "full" | "room" {
  for (const msg of matches) {
    if (page.full || !page.add(msg)) {
      page.hasMore = true;
      return "left";
    }
  }
  return page.full ? "full" : "room";
}

/**
 * Takes what a reader found next: into the page while it has room, and once it is full, only to
 * see whether a match is left, so that hasMore is exact. True when the read is done.
 */
function take(page: Page, matches: LogMsg[]): boolean {
  if (page.full) {
    page.hasMore = matches.length > 0;
    return page.hasMore;
  }
  return addAll(page, matches) === "left";
}

/** The events subjects from `from` up to the head, in position order, a batch at a time. */
async function scanForwards(view: StreamsView, query: Query | undefined, from: number, page: Page): Promise<void> {
  // A full page reads on, in whole batches, only until it meets a match (hasMore) or the head (none).
  const batch = () => (page.full ? SCAN_BATCH : Math.min(SCAN_BATCH, Math.max(16, 2 * page.wanting)));
  for await (const msgs of view.log.range(view.subjects.eventsWildcard, from, page.head, batch)) {
    if (
      take(
        page,
        msgs.filter((msg) => wanted(view, msg, query)),
      )
    )
      return;
  }
}

/**
 * The events subjects from `from` down, in windows of positions read in order and answered in
 * reverse. Of a window only what the page can still take is kept (its highest matches), so a
 * window never holds much more than a page whatever its events' sizes; a window grows while the
 * page wants more, up to about a page of bytes at the size of the events seen.
 */
async function scanBackwards(view: StreamsView, query: Query | undefined, from: number, page: Page): Promise<void> {
  let hi = from;
  let size = FIRST_WINDOW;
  while (hi >= 1) {
    const lo = Math.max(1, hi - size + 1);
    const kept: LogMsg[] = [];
    let keptBytes = 0;
    let dropped = false;
    let seen = 0;
    let seenBytes = 0;
    for await (const msgs of view.log.range(view.subjects.eventsWildcard, lo, hi, () => SCAN_BATCH)) {
      for (const msg of msgs) {
        seen++;
        seenBytes += msg.data.length;
        if (!wanted(view, msg, query)) continue;
        kept.push(msg);
        keptBytes += msg.data.length;
        while (kept.length > page.wanting || keptBytes > page.budget) {
          keptBytes -= kept.shift()!.data.length;
          dropped = true;
        }
      }
    }
    // Dropped matches lie below those kept, which fill the page: the next page starts with them.
    if (take(page, kept.reverse())) return;
    if (dropped) {
      page.hasMore = true;
      return;
    }
    hi = lo - 1;
    size = Math.max(1, Math.min(size * 2, Math.floor(page.budget / Math.max(1, seenBytes / Math.max(1, seen)))));
  }
}

/** Where a tag read finds its candidates: positions in the order the page answers them, never one twice. */
interface Candidates {
  /** Up to n more positions; fewer only when there are no more. */
  take(n: number): Promise<number[]>;
}

/**
 * Every item walked down its chain, the walks merged by position: backwards from `from` as the page
 * takes them; forwards, all of them down to `from` first (the tag's events after `from`), then
 * answered in ascending order.
 */
async function byTags(view: StreamsView, query: Query, from: number, backwards: boolean, page: Page): Promise<void> {
  const walks = await Promise.all(query.items.map((item) => shortestWalk(view, item.tags!)));
  const merged = new MergedWalks(
    walks.filter((w) => w !== undefined),
    backwards ? from : page.head,
  );
  if (backwards) return fill(view, query, merged, page);
  const positions: number[] = [];
  for (;;) {
    const chunk = await merged.take(WALK_CHUNK);
    positions.push(...chunk.filter((p) => p >= from));
    if (chunk.length < WALK_CHUNK || chunk.at(-1)! < from) break;
  }
  positions.reverse();
  let at = 0;
  const ascending: Candidates = {
    async take(n) {
      const taken = positions.slice(at, at + n);
      at += taken.length;
      return taken;
    },
  };
  return fill(view, query, ascending, page);
}

/**
 * The walk of an item's tag with the fewest links; none when one of its tags has no link (then no
 * event carries them all).
 */
async function shortestWalk(view: StreamsView, tags: string[]): Promise<TagWalk | undefined> {
  const lasts = await Promise.all(
    tags.map(async (tag) => {
      const subject = view.subjects.tags(tag);
      const msg = await view.links.current(subject);
      return msg && { subject, link: resolved(msg) };
    }),
  );
  let shortest: { subject: string; link: ResolvedLink } | undefined;
  for (const last of lasts) {
    if (!last) return undefined;
    if (!shortest || last.link.n < shortest.link.n) shortest = last;
  }
  return shortest && new TagWalk(view, shortest.subject, shortest.link);
}

/** Fetches candidates by position in rounds (through the leader on a replicated stream) until the page is full. */
async function fill(view: StreamsView, query: Query, candidates: Candidates, page: Page): Promise<void> {
  for (;;) {
    const round = page.round();
    const positions = await candidates.take(round);
    if (positions.length === 0) return;
    // A position whose event was erased answers nothing: skipped.
    const msgs = await Promise.all(positions.map((p) => view.log.at(p)));
    if (
      take(
        page,
        msgs.filter((msg): msg is LogMsg => msg !== undefined && wanted(view, msg, query)),
      )
    )
      return;
  }
}

/** The walks' positions merged, newest first, without repeats and none above `top`. */
class MergedWalks implements Candidates {
  private readonly buffers: number[][];
  private readonly ended: boolean[];
  private last = Number.POSITIVE_INFINITY;

  constructor(
    private readonly walks: TagWalk[],
    private readonly top: number,
  ) {
    this.buffers = walks.map(() => []);
    this.ended = walks.map(() => false);
  }

  async take(n: number): Promise<number[]> {
    const out: number[] = [];
    while (out.length < n) {
      await Promise.all(this.walks.map((_, i) => this.refill(i)));
      let best = -1;
      for (const [i, buffer] of this.buffers.entries()) {
        if (buffer.length > 0 && (best < 0 || buffer[0]! > this.buffers[best]![0]!)) best = i;
      }
      if (best < 0) break;
      const position = this.buffers[best]!.shift()!;
      if (position < this.last && position <= this.top) out.push(position);
      this.last = Math.min(this.last, position);
    }
    return out;
  }

  /** Gives walk i a position at hand unless it has ended. */
  private async refill(i: number): Promise<void> {
    while (this.buffers[i]!.length === 0 && !this.ended[i]) {
      const positions = await this.walks[i]!.step();
      if (positions) this.buffers[i] = positions;
      else this.ended[i] = true;
    }
  }
}
