import { InternalError, UnavailableError } from "../../contract/errors.js";
import { type EventsPage, pageOverhead, type ReadOptions } from "../store/event-store.js";
import { firstAfter } from "./seq-index.js";
import { StaleIndexError, type StoredMsg } from "./stored-msg.js";
import type { FreshHead, StreamsView } from "./streams-view.js";

// Most events fetched in one round while filling a page.
const MAX_FETCH = 10_000;
// A page starts over (a new head, the actor learned anew) when the end of the actor's history
// changed under it; this many times at most before it answers 503.
const MAX_PAGE_ATTEMPTS = 10;

/** One page of an actor's events, read again from the start when the end of the history changed under it. */
export async function readPage(view: StreamsView, actorId: string, options: ReadOptions): Promise<EventsPage> {
  try {
    return await view.withIndex(actorId, () => page(view, actorId, options), MAX_PAGE_ATTEMPTS);
  } catch (err) {
    // Not a fault of the service: messages of the actor are being deleted faster than it can be read.
    if (err instanceof StaleIndexError) throw new UnavailableError(`the history of ${actorId} kept changing during the read; retry`);
    throw view.seen(err);
  }
}

/**
 * What learning the actor's index reads on the way, kept for the page: only events after `from`,
 * and only about as many bytes as the page holds, so that an index learned from the start of a
 * long history does not hold all of that history in memory.
 */
export class ScannedForPage extends Map<number, StoredMsg> {
  private bytes = 0;

  constructor(
    private readonly from: number,
    private readonly maxBytes: number,
  ) {
    super();
  }

  override set(seq: number, msg: StoredMsg): this {
    if (msg.version <= this.from || this.bytes >= this.maxBytes) return this;
    this.bytes += msg.data.length;
    return super.set(seq, msg);
  }
}

/** What a page holds so far. */
interface Filling {
  encoded: Uint8Array[];
  used: number;
}

/**
 * The head (one read) says where the history ends, the index says where each event is, and the
 * events are fetched by sequence, so the cost follows the page, not the stream. Each round brings
 * about as many events as the rest of the page holds, and never much more than one max_payload.
 */
async function page(view: StreamsView, actorId: string, options: ReadOptions): Promise<EventsPage> {
  const generation = view.generation;
  const from = options.fromVersion ?? 0;
  const limit = options.limit ?? Number.MAX_SAFE_INTEGER;
  const budget = options.maxBytes - pageOverhead(actorId);
  const subject = view.subjects.events(actorId);
  const head = await view.freshHead(actorId, generation);
  if (head.erasedAt !== undefined) return { actorId, encoded: [], hasMore: false, erased: true };
  if (head.version <= from) return { actorId, encoded: [], hasMore: false };
  const scanned = new ScannedForPage(from, budget);
  const index = await view.eventsIndex(actorId, head, from, scanned, generation);
  const seen = new Map(scanned);
  const filling: Filling = { encoded: [], used: 0 };
  let at = firstAfter(index.versions, from);
  // Where the page goes on in the stream: after its last event, or at the first one it wants.
  let next = index.seqs[at] ?? head.seq + 1;
  // Until the page has events of its own, the head's size stands for theirs.
  let round = fetchRound(budget, 1, head.json?.length ?? 1);
  while (at < index.length && filling.encoded.length < limit) {
    const end = Math.min(at + round, at + limit - filling.encoded.length, index.length);
    let msgs: StoredMsg[];
    try {
      msgs = await view.events.round(subject, index.seqs.slice(at, end), index.versions.slice(at, end), seen);
    } catch (err) {
      if (!(err instanceof StaleIndexError)) throw err;
      // Messages deleted under the read: the page goes on with what the stream holds now.
      view.indexes.forget(actorId);
      return scanRest(view, actorId, head, next, budget, limit, filling);
    }
    for (const msg of msgs) {
      if (!add(filling, msg, budget, subject)) return { actorId, encoded: filling.encoded, hasMore: true };
      next = msg.seq + 1;
      at++;
    }
    round = fetchRound(budget - filling.used, filling.encoded.length, filling.used);
  }
  return { actorId, encoded: filling.encoded, hasMore: at < index.length };
}

/**
 * The rest of a page read by subject from `fromSeq` up to the head: slower than by known sequence
 * (the server looks through the stream for the subject), but it settles however many messages
 * are deleted meanwhile. Only a head that is gone makes the page start over.
 */
async function scanRest(
  view: StreamsView,
  actorId: string,
  head: FreshHead,
  fromSeq: number,
  budget: number,
  limit: number,
  filling: Filling,
): Promise<EventsPage> {
  const subject = view.subjects.events(actorId);
  let hasMore = false;
  await view.events.scan(subject, fromSeq, head.seq, (msg) => {
    if (msg.seq > head.seq) return false;
    if (filling.encoded.length >= limit || !add(filling, msg, budget, subject)) {
      hasMore = true;
      return false;
    }
    return msg.seq < head.seq;
  });
  return { actorId, encoded: filling.encoded, hasMore };
}

/** Adds the event when the page has room for it; a page holds at least one event. */
function add(filling: Filling, msg: StoredMsg, budget: number, subject: string): boolean {
  const cost = msg.data.length + (filling.encoded.length > 0 ? 1 : 0);
  if (filling.used + cost > budget) {
    if (filling.encoded.length === 0) {
      throw new InternalError(`${subject} version ${msg.version} (${msg.data.length} bytes) is larger than a page`);
    }
    return false;
  }
  filling.encoded.push(msg.data);
  filling.used += cost;
  return true;
}

/** About as many events as the rest of a page's budget holds, at the size of those seen: never all of them. */
function fetchRound(budget: number, count: number, bytes: number): number {
  return Math.max(1, Math.min(MAX_FETCH, Math.ceil((budget * count) / Math.max(1, bytes)) + 1));
}
