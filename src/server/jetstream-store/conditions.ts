import type { Query, QueryItem } from "../../contract/types.js";
import { type Matchable, matchesItem } from "../store/query.js";
import type { StoredMsg } from "./stored-msg.js";
import type { StreamsView } from "./streams-view.js";
import type { TagHead } from "./tag-heads.js";
import { resolveTagLink } from "./tag-link.js";
import { TagWalk } from "./tag-walk.js";

// A condition's check (docs/design/v3-tags-read-conditions.md, section 2): each query item is
// guarded by one literal subject whose last sequence the batch expects, a tag's link chain or,
// for an item of types only, the stream itself. A guard is coarser than its items (another type,
// another tag), so when it moved past `after` the events on it are read and tested exactly: a
// match refuses the write, none lets it expect the guard as it is.

/** One literal subject and the condition's items it guards. */
export type Guard = { kind: "tag"; tag: string; items: QueryItem[] } | { kind: "stream"; items: QueryItem[] };

/** A guard with the last sequence the batch will expect of it. */
export type ExpectedGuard = Guard & { last: number };

/**
 * The tags whose last link the guards are chosen from: of an item that names a tag the write
 * carries, none (that tag guards it); of any other item with tags, all of them.
 */
export function guardCandidateTags(query: Query, written: ReadonlySet<string>): string[] {
  const tags = new Set<string>();
  for (const item of query.items) {
    if (item.tags && !item.tags.some((t) => written.has(t))) for (const t of item.tags) tags.add(t);
  }
  return [...tags];
}

/**
 * Each item's guard: a tag of it the write carries (its link's expectation is the guard), else its
 * tag with the shortest chain (`chainLength`: the last link's `n`, 0 for none), else the stream.
 * Items with the same guard share it.
 */
export function planGuards(query: Query, written: ReadonlySet<string>, chainLength: (tag: string) => number): Guard[] {
  const byTag = new Map<string, QueryItem[]>();
  const streamItems: QueryItem[] = [];
  for (const item of query.items) {
    if (!item.tags) {
      streamItems.push(item);
      continue;
    }
    const tag = item.tags.find((t) => written.has(t)) ?? item.tags.reduce((best, t) => (chainLength(t) < chainLength(best) ? t : best));
    const items = byTag.get(tag);
    if (items) items.push(item);
    else byTag.set(tag, [item]);
  }
  const guards: Guard[] = [...byTag].map(([tag, items]) => ({ kind: "tag", tag, items }));
  if (streamItems.length > 0) guards.push({ kind: "stream", items: streamItems });
  return guards;
}

/**
 * The guards with their expectations, and the newest position among the events after `after` that
 * match an item (the condition fails) if there is one. A guard not moved past `after` costs nothing.
 */
export async function checkGuards(
  view: StreamsView,
  guards: Guard[],
  tagHead: (tag: string) => TagHead,
  after: number,
): Promise<{ guards: ExpectedGuard[]; position?: number }> {
  const checked = await Promise.all(
    guards.map(async (guard) => {
      if (guard.kind === "tag") {
        const head = tagHead(guard.tag);
        const newest = head.seq > after ? await newestOnTag(view, guard.tag, guard.items, head, after) : undefined;
        return { guard: { kind: guard.kind, tag: guard.tag, items: guard.items, last: head.seq }, newest };
      }
      const last = await view.lastSeq();
      const newest = last > after ? await newestInStream(view, guard.items, after) : undefined;
      return { guard: { kind: guard.kind, items: guard.items, last }, newest };
    }),
  );
  const positions = checked.flatMap((c) => (c.newest === undefined ? [] : [c.newest]));
  const expected = checked.map((c) => c.guard);
  return positions.length > 0 ? { guards: expected, position: Math.max(...positions) } : { guards: expected };
}

/** The newest position after `after` of an event on the tag's chain that matches one of the items. */
async function newestOnTag(view: StreamsView, tag: string, items: QueryItem[], head: TagHead, after: number): Promise<number | undefined> {
  const walk = new TagWalk(view, view.subjects.tags(tag), resolveTagLink(head.seq, head.link!));
  const positions = await walk.positionsAfter(after);
  // Newest first: the first match is the answer (positions in parallel rounds of a few).
  for (let i = 0; i < positions.length; i += EVENT_GETS_IN_FLIGHT) {
    const round = positions.slice(i, i + EVENT_GETS_IN_FLIGHT);
    const msgs = await Promise.all(round.map((seq) => view.events.at(seq)));
    for (const msg of msgs) {
      if (msg && msg.erasedAt === undefined && msg.subject.startsWith(view.subjects.eventsPrefix) && matchesAny(msg, items)) {
        return msg.seq;
      }
    }
  }
  return undefined;
}

// Event gets in flight at once while re-evaluating a tag.
const EVENT_GETS_IN_FLIGHT = 32;

/** The newest position after `after` of an event of the stream that matches one of the items (a scan). */
async function newestInStream(view: StreamsView, items: QueryItem[], after: number): Promise<number | undefined> {
  const lastEvent = await view.events.current(view.subjects.eventsWildcard);
  if (!lastEvent || lastEvent.seq <= after) return undefined;
  let newest: number | undefined;
  await view.events.scan(view.subjects.eventsWildcard, after + 1, lastEvent.seq, (msg) => {
    if (msg.erasedAt === undefined && matchesAny(msg, items)) newest = msg.seq;
    return msg.seq < lastEvent.seq;
  });
  return newest;
}

const decoder = new TextDecoder();

function matchesAny(msg: StoredMsg, items: QueryItem[]): boolean {
  const event = JSON.parse(decoder.decode(msg.data)) as Matchable;
  return items.some((item) => matchesItem(event, item));
}
