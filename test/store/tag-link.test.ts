import { describe, expect, it } from "vitest";
import {
  decodeTagLink,
  encodeTagLink,
  nextTagLink,
  previousFromStored,
  resolveTagLink,
  shiftPrevious,
  type TagLink,
  WINDOW_POSITIONS,
} from "../../src/server/jetstream-store/tag-link.js";

/** Every event position a reader finds from the link at `seq`, walking windows and continuations. */
function walk(stored: Map<number, TagLink>, last: number): number[] {
  const found: number[] = [];
  let at = last;
  while (at > 0) {
    const link = resolveTagLink(at, stored.get(at)!);
    found.push(...link.events);
    for (const w of link.window) found.push(...w.events);
    at = link.next;
  }
  return found.sort((a, b) => a - b);
}

describe("tag links", () => {
  it("round-trip their body and refuse a foreign one", () => {
    const link: TagLink = { o: [2, 1], n: 3, p: 17, w: [[17, [15, 16]]], c: 0 };
    expect(decodeTagLink(encodeTagLink(link))).toEqual(link);
    expect(() => decodeTagLink(new TextEncoder().encode('{"o":[1],"n":1}'))).toThrow("not a tag link");
  });

  it("let a reader find every event of a chain from its last link, in hops of at most one window", () => {
    const stored = new Map<number, TagLink>();
    const positions: number[] = [];
    let seq = 0;
    let last: number | undefined;
    for (let write = 0; write < 40; write++) {
      const events = 1 + (write % 5); // 1 to 5 events, then their link
      for (let i = 0; i < events; i++) positions.push(++seq);
      const link = nextTagLink(last === undefined ? undefined : previousFromStored(last, stored.get(last)!), [
        ...Array.from({ length: events }, (_, i) => events - i),
      ]);
      stored.set(++seq, link);
      last = seq;
      const windowed = link.w.reduce((n, [, e]) => n + e.length, 0);
      expect(link.w.length === 1 || windowed <= WINDOW_POSITIONS).toBe(true);
      expect(walk(stored, last)).toEqual(positions);
    }
    expect(stored.get(last!)!.n).toBe(40);
  });

  it("chain a second link of the same batch to the first by offsets", () => {
    const stored = new Map<number, TagLink>([[5, { o: [1], n: 1, p: 0, w: [], c: 0 }]]);
    // Batch at 6..10: A's event (6), A's link (7), B's events (8, 9), B's link (10).
    const first = nextTagLink(previousFromStored(5, stored.get(5)!), [1]);
    const second = nextTagLink(shiftPrevious(first, 3), [2, 1]);
    stored.set(7, first);
    stored.set(10, second);
    expect(resolveTagLink(10, second)).toMatchObject({ previous: 7, n: 3, events: [8, 9] });
    expect(walk(stored, 10)).toEqual([4, 6, 8, 9]);
  });
});
