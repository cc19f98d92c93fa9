import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConditionFailedError, VersionConflictError } from "../../src/contract/errors.js";
import type { Condition, Event, Query, ReadResponse } from "../../src/contract/types.js";
import { type EventStore, encodeLogPage, type LogReadOptions } from "../../src/server/store/event-store.js";
import { event as ev, events as evs } from "../harness/events.js";
import { decodeLogPage } from "../harness/pages.js";

/**
 * Contract v3 (tags, `read`, conditions) as a suite that each store's test file runs beside
 * storeConformance. Stores are shared across tests: every test uses its own tags, types and actors,
 * and a read of the whole log looks only at what the test wrote after the head it read first.
 */
export function storeConformanceV3(name: string, getStore: () => EventStore): void {
  const suffix = () => randomUUID().slice(0, 8);
  const actor = () => `course-${randomUUID()}`;
  const MiB = 1 << 20;
  const read = async (options: Partial<LogReadOptions> = {}): Promise<ReadResponse> =>
    decodeLogPage(await getStore().read({ maxBytes: MiB, ...options }));
  const ids = (r: ReadResponse) => r.events.map((e) => e.event.id);
  const tagged = (query: Query, from?: number) => read({ query, from });
  /** Every page of a read, following hasMore as the contract says; backwards, down to position `down` only. */
  const walk = async (options: Partial<LogReadOptions>, down = 0) => {
    const pages: ReadResponse[] = [];
    let from = options.from;
    for (;;) {
      const page = await read({ ...options, from });
      pages.push(page);
      const last = page.events.at(-1)?.position;
      if (!page.hasMore || (options.backwards && last !== undefined && last <= down)) return pages;
      expect(page.events.length).toBeGreaterThan(0);
      from = last! + (options.backwards ? -1 : 1);
    }
  };
  const refusal = (run: Promise<unknown>) =>
    run.then(
      () => expect.unreachable("the write was stored"),
      (err: unknown) => err,
    );
  /** A query of plain arrays (the schema's types say 1..n entries, as tuples). */
  const query = (...items: { types?: string[]; tags?: string[] }[]) => ({ items }) as Query;
  const byTags = (...tags: string[]) => query({ tags });
  const when = (failIfEventsMatch: Query, after?: number): Condition =>
    after === undefined ? { failIfEventsMatch } : { failIfEventsMatch, after };
  const itemOf = (tags: string[], types?: string[]): Condition => when(query({ tags, ...(types ? { types } : {}) }));

  describe(`${name} store conformance v3 (tags, read, conditions)`, () => {
    it("stores tags as sent and returns them from events and read", async () => {
      const t = suffix();
      const tags: Event["tags"] = [`z:${t}`, `a:${t}`, `course:${t} with space`];
      const a = actor();
      const sent = evs(a, 1, 2, (v) => (v === 1 ? { tags } : {}));
      await getStore().append(a, sent);
      const page = await getStore().events(a, { maxBytes: MiB });
      const stored = page.encoded.map((json) => JSON.parse(new TextDecoder().decode(json)) as Event);
      expect(stored[0]!.tags).toEqual(tags);
      expect(stored[1]!.tags).toBeUndefined();
      const r = await tagged(byTags(`a:${t}`));
      expect(r.events.map((e) => e.event)).toEqual([stored[0]]);
    });

    it("reads every event without a query, in position order, at the positions the writes answered", async () => {
      const before = (await read({ backwards: true, limit: 1 })).head;
      const [a, b] = [actor(), actor()];
      const saved = await getStore().save(ev(a, 1, { tags: [`t:${suffix()}`] }));
      const appended = await getStore().append(b, evs(b, 1, 2));
      const transacted = await getStore().transact([
        { actorId: a, events: evs(a, 2, 1) },
        { actorId: b, events: evs(b, 3, 2) },
      ]);
      const expected = [saved.sequence, ...appended.sequences, ...transacted.appends.flatMap((x) => x.sequences)];
      const pages = await walk({ from: before + 1 });
      const all = pages.flatMap((p) => p.events);
      const positions = all.map((e) => e.position);
      expect(positions).toEqual([...positions].sort((x, y) => x - y));
      expect(new Set(positions).size).toBe(positions.length);
      const mine = all.filter((e) => e.event.actorId === a || e.event.actorId === b);
      expect(mine.map((e) => e.position)).toEqual(expected);
      expect(mine.map((e) => [e.event.actorId, e.event.version])).toEqual([
        [a, 1],
        [b, 1],
        [b, 2],
        [a, 2],
        [b, 3],
        [b, 4],
      ]);
      expect(pages.at(-1)!.head).toBeGreaterThanOrEqual(expected.at(-1)!);
    });

    it("matches by type, by tag, by type and tag, by two tags, and by several items, each event once", async () => {
      const s = suffix();
      const [A, B, t1, t2] = [`A-${s}`, `B-${s}`, `t1:${s}`, `t2:${s}`];
      const a = actor();
      const sent = [
        ev(a, 1, { eventType: A, tags: [t1] }),
        ev(a, 2, { eventType: B, tags: [t1, t2] }),
        ev(a, 3, { eventType: A, tags: [t2] }),
        ev(a, 4, { eventType: B }),
        ev(a, 5, { eventType: A, tags: [t2, t1] }),
      ];
      await getStore().append(a, sent.slice(0, 2));
      await getStore().save(sent[2]!);
      await getStore().append(a, sent.slice(3));
      const id = (...n: number[]) => n.map((i) => sent[i - 1]!.id);
      const cases: [Query, string[]][] = [
        [query({ types: [A] }), id(1, 3, 5)],
        [byTags(t1), id(1, 2, 5)],
        [query({ types: [A], tags: [t1] }), id(1, 5)],
        [byTags(t1, t2), id(2, 5)],
        [query({ types: [A, B], tags: [t2] }), id(2, 3, 5)],
        [query({ types: [B] }, { tags: [t2] }), id(2, 3, 4, 5)],
        [query({ tags: [t1] }, { tags: [t2] }, { types: [A] }), id(1, 2, 3, 5)],
        [byTags(`none:${s}`), []],
        [query({ types: [A], tags: [`none:${s}`] }), []],
      ];
      for (const [q, expected] of cases) {
        expect({ q, ids: ids(await tagged(q)) }).toEqual({ q, ids: expected });
        const backwards = await read({ query: q, backwards: true });
        expect({ q, ids: ids(backwards) }).toEqual({ q, ids: [...expected].reverse() });
      }
    });

    it("pages forward and backward with from, limit and hasMore, over positions with gaps", async () => {
      const t = `page:${suffix()}`;
      const q = byTags(t);
      const [a, b] = [actor(), actor()];
      const positions: number[] = [];
      for (let v = 1; v <= 7; v++) {
        positions.push((await getStore().save(ev(a, v, { tags: [t] }))).sequence);
        await getStore().save(ev(b, v, { tags: [`other:${t}`] }));
      }
      const forward = await walk({ query: q, limit: 3 });
      expect(forward.map((p) => p.events.map((e) => e.position))).toEqual([
        positions.slice(0, 3),
        positions.slice(3, 6),
        positions.slice(6),
      ]);
      expect(forward.map((p) => p.hasMore)).toEqual([true, true, false]);
      const backward = await walk({ query: q, limit: 3, backwards: true });
      const down = [...positions].reverse();
      expect(backward.map((p) => p.events.map((e) => e.position))).toEqual([down.slice(0, 3), down.slice(3, 6), down.slice(6)]);
      // from is inclusive, in both directions; the last page says there is no more.
      expect((await read({ query: q, from: positions[2] })).events.map((e) => e.position)).toEqual(positions.slice(2));
      expect((await read({ query: q, from: positions[2]! + 1 })).events.map((e) => e.position)).toEqual(positions.slice(3));
      expect((await read({ query: q, from: positions[4], backwards: true })).events.map((e) => e.position)).toEqual(down.slice(2));
      expect(await read({ query: q, from: positions[0]! - 1, backwards: true })).toMatchObject({ events: [], hasMore: false });
      expect(await read({ query: q, from: positions[6]! + 1 })).toMatchObject({ events: [], hasMore: false });
      expect(await read({ query: q, limit: 7 })).toMatchObject({ hasMore: false });
      expect(await read({ query: q, limit: 6 })).toMatchObject({ hasMore: true });
    });

    it("keeps every page within maxBytes and pages through all of them", async () => {
      const t = `bytes:${suffix()}`;
      const q = byTags(t);
      const a = actor();
      const sent = evs(a, 1, 6, () => ({ tags: [t], data: { pad: "x".repeat(300) } }));
      await getStore().append(a, sent);
      const maxBytes = 1000;
      for (const backwards of [false, true]) {
        const seen: string[] = [];
        let from: number | undefined;
        for (let pages = 1; ; pages++) {
          const page = await getStore().read({ query: q, from, backwards, maxBytes });
          expect(encodeLogPage(page).length).toBeLessThanOrEqual(maxBytes);
          const reply = decodeLogPage(page);
          expect(reply.events.length).toBeGreaterThan(0);
          seen.push(...ids(reply));
          if (!reply.hasMore) {
            expect(pages).toBeGreaterThan(2);
            break;
          }
          from = reply.events.at(-1)!.position + (backwards ? -1 : 1);
        }
        const expected = sent.map((e) => e.id);
        expect(seen).toEqual(backwards ? expected.reverse() : expected);
      }
    });

    it("answers the stream's head with every read, matching or not", async () => {
      const t = `head:${suffix()}`;
      const a = actor();
      const { sequence } = await getStore().save(ev(a, 1));
      const empty = await tagged(byTags(t));
      expect(empty).toMatchObject({ events: [], hasMore: false });
      expect(empty.head).toBeGreaterThanOrEqual(sequence);
      const { sequences } = await getStore().append(
        a,
        evs(a, 2, 2, () => ({ tags: [t] })),
      );
      const r = await tagged(byTags(t));
      expect(r.events.map((e) => e.position)).toEqual(sequences);
      expect(r.head).toBeGreaterThanOrEqual(sequences.at(-1)!);
      expect(r.head).toBeGreaterThanOrEqual(empty.head);
    });

    it("never returns an erased actor's events or its tombstone", async () => {
      const t = `erased:${suffix()}`;
      const q = byTags(t);
      const [a, b] = [actor(), actor()];
      const before = (await read({ backwards: true, limit: 1 })).head;
      await getStore().append(
        a,
        evs(a, 1, 3, () => ({ tags: [t] })),
      );
      const kept = await getStore().save(ev(b, 1, { tags: [t] }));
      expect(ids(await tagged(q))).toHaveLength(4);
      await getStore().erase(a, "asked");
      expect((await tagged(q)).events.map((e) => e.position)).toEqual([kept.sequence]);
      expect((await read({ query: q, backwards: true })).events.map((e) => e.position)).toEqual([kept.sequence]);
      for (const backwards of [false, true]) {
        const all = (await walk({ from: backwards ? undefined : before + 1, backwards }, before)).flatMap((p) => p.events);
        expect(all.filter((e) => e.event.actorId === a)).toEqual([]);
        for (const e of all) expect(e.event).toMatchObject({ id: expect.any(String), eventType: expect.any(String) });
      }
    });

    it("refuses a write with 409 and the newest matching position after `after`, storing nothing", async () => {
      const t = `cond:${suffix()}`;
      const [a, b] = [actor(), actor()];
      const first = await getStore().save(ev(a, 1, { tags: [t] }));
      await getStore().save(ev(a, 2, { tags: [`other:${t}`] }));
      const second = await getStore().save(ev(a, 3, { tags: [t] }));
      const conflictsBefore = getStore().counters.append.conflicts;
      for (const after of [undefined, 0, first.sequence, second.sequence - 1]) {
        const condition = { ...itemOf([t]), ...(after === undefined ? {} : { after }) };
        const err = await refusal(getStore().append(b, [ev(b, 1, { tags: [t] })], undefined, condition));
        expect(err).toBeInstanceOf(ConditionFailedError);
        expect(err).toMatchObject({ code: 409, position: second.sequence });
        expect((err as ConditionFailedError).toBody().error).toMatchObject({ code: 409, condition: { position: second.sequence } });
      }
      // A failed condition is a 409 of the endpoint: counted with its conflicts.
      expect(getStore().counters.append.conflicts - conflictsBefore).toBe(4);
      expect(await getStore().version(b)).toBe(0);
      expect((await tagged(byTags(t))).events.map((e) => e.position)).toEqual([first.sequence, second.sequence]);
    });

    it("stores a write whose matching events lie only at or before `after`", async () => {
      const t = `after:${suffix()}`;
      const [a, b] = [actor(), actor()];
      const matching = await getStore().save(ev(a, 1, { tags: [t] }));
      const decided = await tagged(byTags(t));
      await getStore().save(ev(a, 2, { tags: [`other:${t}`] }));
      const atHead = await getStore().append(b, [ev(b, 1)], undefined, { ...itemOf([t]), after: decided.head });
      expect(atHead.duplicate).toBe(false);
      const atMatch = await getStore().append(b, [ev(b, 2)], undefined, { ...itemOf([t]), after: matching.sequence });
      expect(atMatch.duplicate).toBe(false);
      expect(await getStore().version(b)).toBe(2);
    });

    it("without `after`, fails on any matching event and passes when none exists", async () => {
      const t = `none:${suffix()}`;
      const [a, b] = [actor(), actor()];
      const fresh = await getStore().append(a, [ev(a, 1, { tags: [t] })], undefined, itemOf([t]));
      expect(fresh.toVersion).toBe(1);
      const err = await refusal(getStore().append(b, [ev(b, 1)], undefined, itemOf([t])));
      expect(err).toMatchObject({ code: 409, position: fresh.sequences[0] });
    });

    it("is exact: an event matching only part of an item never refuses the write", async () => {
      const s = suffix();
      const [X, Y, t1, t2] = [`X-${s}`, `Y-${s}`, `t1:${s}`, `t2:${s}`];
      const [a, b] = [actor(), actor()];
      await getStore().save(ev(a, 1, { eventType: X, tags: [t1] }));
      const last = await getStore().save(ev(a, 2, { eventType: Y, tags: [t2] }));
      let version = 0;
      for (const condition of [
        itemOf([t1], [Y]),
        itemOf([t1, t2]),
        itemOf([t2], [X]),
        itemOf([`t3:${s}`]),
        when(query({ types: [`Z-${s}`] })),
      ]) {
        version++;
        const r = await getStore().append(b, [ev(b, version)], undefined, condition);
        expect({ condition, toVersion: r.toVersion }).toEqual({ condition, toVersion: version });
      }
      const err = await refusal(getStore().append(b, [ev(b, version + 1)], undefined, itemOf([t2], [Y, X])));
      expect(err).toMatchObject({ code: 409, position: last.sequence });
    });

    it("answers with the newest position over every item of the query, types alone included", async () => {
      const s = suffix();
      const [T, t1, t2] = [`T-${s}`, `t1:${s}`, `t2:${s}`];
      const [a, b] = [actor(), actor()];
      const one = await getStore().save(ev(a, 1, { tags: [t1] }));
      const typed = await getStore().save(ev(a, 2, { eventType: T }));
      const two = await getStore().save(ev(a, 3, { tags: [t2] }));
      const all = query({ tags: [t2] }, { tags: [t1] }, { types: [T] });
      for (const [after, position] of [
        [0, two.sequence],
        [two.sequence - 1, two.sequence],
      ] as const) {
        const err = await refusal(getStore().append(b, [ev(b, 1)], undefined, when(all, after)));
        expect(err).toMatchObject({ code: 409, position });
      }
      const typeOnly = query({ types: [T] });
      expect(await refusal(getStore().append(b, [ev(b, 1)], undefined, when(typeOnly)))).toMatchObject({
        code: 409,
        position: typed.sequence,
      });
      expect(await refusal(getStore().append(b, [ev(b, 1)], undefined, itemOf([t1])))).toMatchObject({ position: one.sequence });
      const r = await getStore().append(b, [ev(b, 1)], undefined, when(typeOnly, typed.sequence));
      expect(r.toVersion).toBe(1);
    });

    it("answers a retry of a stored conditional write as a duplicate although its own events match now", async () => {
      const t = `retry:${suffix()}`;
      const [a, b] = [actor(), actor()];
      const condition = itemOf([t]);
      const events = evs(a, 1, 2, () => ({ tags: [t] }));
      const stored = await getStore().append(a, events, undefined, condition);
      const duplicatesBefore = getStore().counters.append.duplicates;
      expect(await getStore().append(a, events, undefined, condition)).toEqual({ ...stored, duplicate: true });
      expect(getStore().counters.append.duplicates - duplicatesBefore).toBe(1);
      const appends = [
        { actorId: b, events: [ev(b, 1, { tags: [t] })] },
        { actorId: a, events: [ev(a, 3)] },
      ];
      const after = stored.sequences.at(-1)!;
      const tx = await getStore().transact(appends, undefined, { ...condition, after });
      expect(await getStore().transact(appends, undefined, { ...condition, after })).toEqual({ ...tx, duplicate: true });
      expect(await getStore().transact(appends, undefined, condition)).toEqual({ ...tx, duplicate: true });
    });

    it("answers a version conflict with currentVersion, whatever the condition says", async () => {
      const t = `version:${suffix()}`;
      const a = actor();
      await getStore().save(ev(a, 1, { tags: [t] }));
      for (const condition of [itemOf([t]), itemOf([`free:${t}`])]) {
        const err = await refusal(getStore().append(a, [ev(a, 1)], undefined, condition));
        expect(err).toBeInstanceOf(VersionConflictError);
        expect(err).toMatchObject({ code: 409, actorId: a, attemptedVersion: 1, currentVersion: 1 });
      }
    });

    it("takes a condition on transact: refused, no actor's events are stored; else all are", async () => {
      const t = `tx:${suffix()}`;
      const [a, b, c] = [actor(), actor(), actor()];
      const matching = await getStore().save(ev(c, 1, { tags: [t] }));
      const appends = [
        { actorId: a, events: evs(a, 1, 2, () => ({ tags: [t] })) },
        { actorId: b, events: [ev(b, 1)] },
      ];
      const conflictsBefore = getStore().counters.transact.conflicts;
      const err = await refusal(getStore().transact(appends, undefined, itemOf([t])));
      expect(err).toBeInstanceOf(ConditionFailedError);
      expect(err).toMatchObject({ code: 409, position: matching.sequence });
      expect(getStore().counters.transact.conflicts - conflictsBefore).toBe(1);
      expect([await getStore().version(a), await getStore().version(b)]).toEqual([0, 0]);
      const tx = await getStore().transact(appends, undefined, { ...itemOf([t]), after: matching.sequence });
      expect(tx.duplicate).toBe(false);
      expect((await tagged(byTags(t))).events.map((e) => e.position)).toEqual([matching.sequence, ...tx.appends[0]!.sequences]);
    });

    it("lets exactly one of many concurrent writes guarded by the same condition win", async () => {
      const t = `race:${suffix()}`;
      const racers = Array.from({ length: 8 }, () => actor());
      const results = await Promise.allSettled(racers.map((a) => getStore().append(a, [ev(a, 1, { tags: [t] })], undefined, itemOf([t]))));
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(won).toHaveLength(1);
      const winner = won[0]!.value.sequences[0];
      for (const l of lost) expect(l.reason).toMatchObject({ code: 409, position: winner });
      expect((await tagged(byTags(t))).events.map((e) => e.position)).toEqual([winner]);
    });

    it("lets a condition pass once the only matching actor is erased", async () => {
      const t = `gone:${suffix()}`;
      const [a, b] = [actor(), actor()];
      await getStore().save(ev(a, 1, { tags: [t] }));
      expect(await refusal(getStore().append(b, [ev(b, 1)], undefined, itemOf([t])))).toBeInstanceOf(ConditionFailedError);
      await getStore().erase(a);
      expect((await getStore().append(b, [ev(b, 1)], undefined, itemOf([t]))).toVersion).toBe(1);
    });
  });
}
