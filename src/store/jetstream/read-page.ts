import { InternalError } from "../../errors.js";
import { StaleIndexError, type StoredMsg } from "../../jetstream/reader.js";
import { firstAfter } from "../seq-index.js";
import { type EventsPage, pageOverhead, type ReadOptions } from "../store.js";
import type { Replica } from "./replica.js";

// Most events fetched in one round while filling a page.
const MAX_FETCH = 10_000;
// From this many events on, a round is read through a consumer rather than batch direct gets:
// creating and deleting it costs two requests, decoding no header block saves more.
const CONSUMER_ROUND = 200;

/** One page of an actor's events, read again from the start when the stream changed under it. */
export async function readPage(replica: Replica, actorId: string, options: ReadOptions): Promise<EventsPage> {
  try {
    return await replica.withIndex(actorId, () => page(replica, actorId, options));
  } catch (err) {
    if (err instanceof StaleIndexError) throw new InternalError(`reading ${actorId}: ${err.message}`);
    throw replica.seen(err);
  }
}

/**
 * The head (one read) says where the history ends, the index says where each event is, and the
 * events are fetched by sequence, so the cost follows the page, not the stream.
 */
async function page(replica: Replica, actorId: string, options: ReadOptions): Promise<EventsPage> {
  const generation = replica.generation;
  const from = options.fromVersion ?? 0;
  const limit = options.limit ?? Number.MAX_SAFE_INTEGER;
  const budget = options.maxBytes - pageOverhead(actorId);
  const subject = replica.subjects.events(actorId);
  const head = await replica.freshHead(actorId, generation);
  if (head.erasedAt !== undefined) return { actorId, encoded: [], hasMore: false, erased: true };
  if (head.version <= from) return { actorId, encoded: [], hasMore: false };
  const seen = new Map<number, StoredMsg>();
  const index = await replica.indexes.upTo(replica.events, actorId, subject, head, from, seen, generation);
  const encoded: Uint8Array[] = [];
  let used = 0;
  let at = firstAfter(index.versions, from);
  // Until the page has events of its own, the head's size stands for theirs.
  let round = fetchRound(budget, 1, head.json?.length ?? 1);
  while (at < index.length && encoded.length < limit) {
    const end = Math.min(at + round, at + limit - encoded.length, index.length);
    const seqs = index.seqs.slice(at, end);
    const versions = index.versions.slice(at, end);
    const msgs =
      end - at >= CONSUMER_ROUND
        ? await replica.events.fetchRun(subject, seqs, versions, seen)
        : await replica.events.fetch(subject, seqs, versions, seen);
    for (const msg of msgs) {
      const cost = msg.data.length + (encoded.length > 0 ? 1 : 0);
      if (used + cost > budget) {
        if (encoded.length === 0) {
          throw new InternalError(`${subject} version ${msg.version} (${msg.data.length} bytes) is larger than a page`);
        }
        return { actorId, encoded, hasMore: true };
      }
      encoded.push(msg.data);
      used += cost;
      at++;
    }
    round = fetchRound(budget - used, encoded.length, used);
  }
  return { actorId, encoded, hasMore: at < index.length };
}

/** About as many events as the rest of a page's budget holds, at the size of those seen: never all of them. */
function fetchRound(budget: number, count: number, bytes: number): number {
  return Math.max(1, Math.min(MAX_FETCH, Math.ceil((budget * count) / Math.max(1, bytes)) + 1));
}
