import { randomUUID } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { Subjects } from "../../src/contract/subjects.js";
import type { Event, Query } from "../../src/contract/types.js";
import type { JetStreamObserver } from "../../src/server/jetstream/observer.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import { resolveTagLink } from "../../src/server/jetstream-store/tag-link.js";
import { matchesQuery } from "../../src/server/store/query.js";
import { event as ev } from "../harness/events.js";
import { useNatsServer } from "../harness/fixture.js";
import { createV3Streams, expected, type Positioned, readAll, TaggedWriter } from "../harness/log.js";

// The read of the whole log on JetStream (contract v3, issue 26): what a read by tag, by type or
// of everything returns equals a filtered full scan of what was written, page by page, forwards
// and backwards; erased links and events are stepped over; pages keep to their bytes; and a tag
// read does not look at the rest of the stream.
const f = useNatsServer();

let streams = 0;
/** A stream of its own for one test, its store and its writer of tagged events. */
async function fresh(observer?: JetStreamObserver) {
  const subjects = new Subjects(`LOG${++streams}`);
  await createV3Streams(f.nc, subjects);
  const store = new JetStreamEventStore(f.nc, { subjects, cacheSize: 1000, timeoutMs: 5000, atomicBatch: true, observer });
  return { subjects, store, writer: new TaggedWriter(f.nc, subjects) };
}

const ids = (events: Positioned[]) => events.map((e) => `${e.position}:${e.event.id}`);

/** Writes `writes` appends of 1 to 4 events over 5 actors, tags and types drawn from small sets (seeded). */
async function mixedLog(writer: TaggedWriter, writes: number): Promise<void> {
  let seed = 7;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const versions = new Map<string, number>();
  for (let w = 0; w < writes; w++) {
    const actorId = `order-${next(5)}`;
    const count = 1 + next(4);
    const from = (versions.get(actorId) ?? 0) + 1;
    versions.set(actorId, from + count - 1);
    const events = Array.from({ length: count }, (_, i) => {
      const tags = ["a", "b", "c"].filter(() => next(3) === 0);
      return ev(actorId, from + i, { eventType: next(2) === 0 ? "X" : "Y", ...(tags.length > 0 ? { tags } : {}) });
    });
    await writer.append(actorId, events);
  }
}

/** A query by the tags, and one by the events' type. */
const queries = (tags: [string, ...string[]]): Query[] => [{ items: [{ tags }] }, { items: [{ types: ["Tested"] }] }];

const QUERIES: Query[] = [
  { items: [{ tags: ["a"] }] },
  { items: [{ tags: ["a", "b"] }] },
  { items: [{ tags: ["b"], types: ["Y"] }] },
  { items: [{ tags: ["a"] }, { tags: ["b"], types: ["Y"] }, { tags: ["c", "a"] }] },
  { items: [{ types: ["X"] }] },
  { items: [{ types: ["Y"] }, { tags: ["c"] }] },
  { items: [{ tags: ["never"] }] },
];

describe("read of the log", () => {
  it("answers every query as a filtered full scan, forwards and backwards, in pages of 1, 3 and as many as fit", async () => {
    const { store, writer } = await fresh();
    await mixedLog(writer, 80);
    const queries: (Query | undefined)[] = [undefined, ...QUERIES];
    for (const query of queries) {
      const matches = (e: Event) => matchesQuery(e, query);
      for (const backwards of [false, true]) {
        const want = ids(expected(writer.log, matches, backwards));
        for (const limit of [1, 3, undefined]) {
          const got = await readAll(store, { query, limit, backwards });
          expect(ids(got.events), JSON.stringify({ query, backwards, limit })).toEqual(want);
        }
        // from a position in the middle, inclusive
        const middle = writer.log[Math.floor(writer.log.length / 2)]!.position;
        const fromMiddle = await readAll(store, { query, backwards, from: middle, limit: 4 });
        expect(ids(fromMiddle.events)).toEqual(ids(expected(writer.log, matches, backwards, middle)));
      }
    }
  });

  it("answers head, and nothing and hasMore false from beyond either end", async () => {
    const { store, writer } = await fresh();
    expect(await store.read({ maxBytes: 1 << 20 })).toEqual({ entries: [], hasMore: false, head: 0 });
    await writer.append("order-1", [ev("order-1", 1, { tags: ["t"] })]);
    const head = writer.lastLink("t")!.seq;
    for (const query of [undefined, { items: [{ tags: ["t"] }] } as Query]) {
      expect(await store.read({ query, from: head + 1, maxBytes: 1 << 20 })).toEqual({ entries: [], hasMore: false, head });
      const back = await store.read({ query, backwards: true, from: head + 100, maxBytes: 1 << 20 });
      expect(back.entries.map((e) => e.position)).toEqual([1]);
      expect(back.hasMore).toBe(false);
    }
  });

  it("walks a tag of 180 events written 1 to 5 at a time (window hops), among others, in pages", async () => {
    const { store, writer } = await fresh();
    let version = 0;
    for (let w = 0; w < 60; w++) {
      const count = 1 + (w % 5);
      const events = Array.from({ length: count }, (_, i) => ev("order-big", ++version, { tags: i % 2 === 0 ? ["big", "x"] : ["big"] }));
      await writer.append("order-big", events);
      await writer.append(`order-other-${w}`, [ev(`order-other-${w}`, 1, { tags: ["x"] })]);
    }
    const big = expected(writer.log, (e) => e.tags?.includes("big") ?? false);
    expect(big.length).toBe(180);
    // the last link's window does not reach the start: the read hops
    expect(resolveTagLink(writer.lastLink("big")!.seq, writer.lastLink("big")!.link).next).toBeGreaterThan(0);
    for (const backwards of [false, true]) {
      const want = ids(backwards ? [...big].reverse() : big);
      expect(ids((await readAll(store, { query: { items: [{ tags: ["big"] }] }, backwards, limit: 7 })).events)).toEqual(want);
      expect(ids((await readAll(store, { query: { items: [{ tags: ["big"] }] }, backwards })).events)).toEqual(want);
    }
    // an item with two tags walks the shorter chain and keeps what carries both
    const both = (e: Event) => (e.tags?.includes("big") && e.tags.includes("x")) ?? false;
    expect(ids((await readAll(store, { query: { items: [{ tags: ["x", "big"] }] }, limit: 5 })).events)).toEqual(
      ids(expected(writer.log, both)),
    );
  });

  it("steps over erased links and events: every other event of the tag is still read", async () => {
    const { subjects, store, writer } = await fresh();
    for (let i = 1; i <= 60; i++) await writer.append(`order-${i}`, [ev(`order-${i}`, 1, { tags: ["d"] })]);
    // the link the last one continues at (below its window), and the one after it, go with their events
    const last = resolveTagLink(writer.lastLink("d")!.seq, writer.lastLink("d")!.link);
    const doomedLinks = [last.next, last.next + 2];
    const doomedEvents = doomedLinks.map((l) => l - 1);
    const jsm = await jetstreamManager(f.nc);
    for (const seq of [...doomedLinks, ...doomedEvents]) await jsm.streams.deleteMessage(subjects.stream, seq);
    const want = expected(writer.log, () => true).filter((p) => !doomedEvents.includes(p.position));
    expect(want.length).toBe(58);
    for (const backwards of [false, true]) {
      for (const limit of [3, undefined]) {
        const got = await readAll(store, { query: { items: [{ tags: ["d"] }] }, backwards, limit });
        expect(ids(got.events)).toEqual(ids(backwards ? [...want].reverse() : want));
      }
    }
  });

  it("never returns a tombstone or an erased actor's events, by scan or by tag", async () => {
    const { store, writer } = await fresh();
    await writer.append("order-gone", [ev("order-gone", 1, { tags: ["e"] }), ev("order-gone", 2)]);
    await writer.append("order-kept", [ev("order-kept", 1, { tags: ["e"] })]);
    await store.erase("order-gone");
    const kept = writer.log.filter((p) => p.event.actorId === "order-kept");
    for (const query of [undefined, ...queries(["e"])]) {
      for (const backwards of [false, true]) {
        expect(ids((await readAll(store, { query, backwards, limit: 1 })).events)).toEqual(ids(kept));
      }
    }
  });

  it("keeps every page within its bytes for large events, and still reads them all", async () => {
    const { store, writer } = await fresh();
    const blob = "z".repeat(60_000);
    for (let i = 1; i <= 12; i++) {
      await writer.append(`order-${i}`, [ev(`order-${i}`, 1, { tags: ["big"], data: { blob } }), ev(`order-${i}`, 2, { data: { blob } })]);
    }
    const maxBytes = 200_000;
    for (const query of [undefined, ...queries(["big"])]) {
      for (const backwards of [false, true]) {
        const sizes: number[] = [];
        const got = await readAll(store, { query, backwards, maxBytes }, (bytes) => sizes.push(bytes));
        expect(ids(got.events)).toEqual(ids(expected(writer.log, (e) => matchesQuery(e, query), backwards)));
        expect(Math.max(...sizes)).toBeLessThanOrEqual(maxBytes);
        // three events of 60 kB fit, a fourth does not
        expect(got.pages).toBeGreaterThanOrEqual(Math.ceil(got.events.length / 3));
      }
    }
  });
});

describe("a tag read's cost follows the tag, not the stream", () => {
  /** JetStream requests of one read of a 20-event tag in a stream of `fillers` other events. */
  async function requestsOfTagRead(fillers: number): Promise<{ requests: number; found: number }> {
    let requests = 0;
    const counting: JetStreamObserver = {
      start: () => {
        requests++;
        return () => {};
      },
    };
    const { subjects, store, writer } = await fresh(counting);
    const js = jetstream(f.nc);
    const filler = new TextEncoder().encode(JSON.stringify(ev("order-filler", 1)));
    const every = fillers / 20;
    for (let t = 0; t < 20; t++) {
      for (let i = 0; i < every; i += 500) {
        const n = Math.min(500, every - i);
        await Promise.all(Array.from({ length: n }, (_, k) => js.publish(`${subjects.eventsPrefix}noise.n-${t}-${i + k}`, filler)));
      }
      await writer.append(`order-t${t}`, [ev(`order-t${t}`, 1, { tags: [`flat-${randomUUID()}`, "flat"] })]);
    }
    requests = 0;
    const page = await store.read({ query: { items: [{ tags: ["flat"] }] }, maxBytes: 1 << 20 });
    return { requests, found: page.entries.length };
  }

  it("makes as many JetStream requests for a 20-event tag among 2,000 as among 20,000 other events", async () => {
    const small = await requestsOfTagRead(2_000);
    const large = await requestsOfTagRead(20_000);
    expect(small.found).toBe(20);
    expect(large.found).toBe(20);
    // the head, the tag's last link, 20 events
    expect(small.requests).toBe(22);
    expect(large.requests).toBe(small.requests);
  }, 120_000);
});
