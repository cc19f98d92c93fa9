// The tag link (docs/design/v3-tags-read-conditions.md, section 1): one small message per (actor of
// a write, distinct tag of its events) on `<stream>.tags.<tagToken(tag)>`, in the same atomic
// batch as the events, after them. Its expectation (Nats-Expected-Last-Subject-Sequence) is the
// tag subject's last sequence: the chain pointer and the guard of a condition on that tag at once.
// Its body lets a reader find a tag's events from the last link alone: the link's own events and a
// window of the positions of the tag's previous events, so a read of r events is one last_by_subj
// and r gets by sequence (plus one hop per WINDOW_POSITIONS).
//
// References to messages are sequences: a positive number is a stream sequence; a negative one is
// an offset back from the link's own sequence (a message of the same batch, whose sequence the
// writer cannot know). `o` holds offsets back to the link's own events (positive numbers).

/** A window holds the previous links up to this many positions in all (always at least one link). */
export const WINDOW_POSITIONS = 32;

/** A link's body as stored (compact JSON). */
export interface TagLink {
  /** Offsets back from the link's own sequence to its events: all events of one actor. */
  o: number[];
  /** Its ordinal in the tag's chain, from 1: a reader of several tags walks the shortest chain. */
  n: number;
  /** The previous link of the tag (a reference), 0 when this is the first. */
  p: number;
  /** The previous links, newest first: [link reference, [its events' references]]. */
  w: [number, number[]][];
  /** Where a reader goes on once the window is used up: a link reference; 0 = the chain ends. */
  c: number;
}

/** A link with every reference resolved to a stream sequence. */
export interface ResolvedLink {
  seq: number;
  n: number;
  /** Its own events' positions, ascending. */
  events: number[];
  previous: number;
  /** Newest first. */
  window: { link: number; events: number[] }[];
  next: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeTagLink(link: TagLink): Uint8Array {
  return encoder.encode(JSON.stringify(link));
}

const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const isInts = (v: unknown): v is number[] => Array.isArray(v) && v.every(isInt);

/** A stored link's body; throws on anything that is not one (a foreign message on the subject). */
export function decodeTagLink(data: Uint8Array): TagLink {
  const v = JSON.parse(decoder.decode(data)) as Partial<TagLink>;
  const ok =
    isInts(v.o) &&
    isInt(v.n) &&
    isInt(v.p) &&
    isInt(v.c) &&
    Array.isArray(v.w) &&
    v.w.every((e) => Array.isArray(e) && e.length === 2 && isInt(e[0]) && isInts(e[1]));
  if (!ok) throw new Error("not a tag link");
  return v as TagLink;
}

/** The link stored at `seq`, every reference made a sequence. */
export function resolveTagLink(seq: number, link: TagLink): ResolvedLink {
  const ref = (r: number) => (r < 0 ? seq + r : r);
  return {
    seq,
    n: link.n,
    events: link.o.map((off) => seq - off).sort((a, b) => a - b),
    previous: ref(link.p),
    window: link.w.map(([l, events]) => ({ link: ref(l), events: events.map(ref) })),
    next: ref(link.c),
  };
}

/**
 * The previous link as the writer of a new one sees it: every reference either a sequence (a link
 * already stored) or a negative offset back from the NEW link's sequence (a link earlier in the same batch).
 */
export interface PreviousLink {
  ref: number;
  n: number;
  events: number[];
  window: [number, number[]][];
  next: number;
}

/** What a stored link (decoded at `seq`) is to the writer of the next one. */
export function previousFromStored(seq: number, link: TagLink): PreviousLink {
  const r = resolveTagLink(seq, link);
  return { ref: seq, n: r.n, events: r.events, window: r.window.map((e) => [e.link, e.events]), next: r.next };
}

/**
 * The link that follows `previous` (none: the tag's first), for events `offsets` back from it: its
 * window is the previous link and as many of that one's window as keep at most WINDOW_POSITIONS
 * positions; the first link dropped is where a reader goes on.
 */
export function nextTagLink(previous: PreviousLink | undefined, offsets: number[]): TagLink {
  if (!previous) return { o: offsets, n: 1, p: 0, w: [], c: 0 };
  const w: [number, number[]][] = [[previous.ref, previous.events]];
  let positions = previous.events.length;
  let c = previous.next;
  for (const entry of previous.window) {
    if (positions + entry[1].length > WINDOW_POSITIONS) {
      c = entry[0];
      break;
    }
    w.push(entry);
    positions += entry[1].length;
  }
  return { o: offsets, n: previous.n + 1, p: previous.ref, w, c };
}

/**
 * The same previous link seen from a link `distance` messages later in the same batch: references
 * that were offsets back from the earlier link move further back; sequences stay.
 */
export function shiftPrevious(link: TagLink, distance: number): PreviousLink {
  const shift = (r: number) => (r < 0 ? r - distance : r);
  return {
    ref: -distance,
    n: link.n,
    events: link.o.map((off) => -(off + distance)),
    window: link.w.map(([l, events]) => [shift(l), events.map(shift)]),
    next: shift(link.c),
  };
}
