import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ErasedError, ValidationError, VersionConflictError } from "../../src/contract/errors.js";
import type { EventStore } from "../../src/server/store/event-store.js";
import { event as ev, events } from "../harness/events.js";
import { decodePage } from "../harness/pages.js";

/** The behaviour every EventStore must have, as a suite that each implementation's test file runs. */
export function storeConformance(name: string, getStore: () => EventStore): void {
  const actor = (type = "order") => `${type}-${randomUUID()}`;
  const read = async (actorId: string, fromVersion?: number, limit?: number, maxBytes = 1024 * 1024) =>
    decodePage(await getStore().events(actorId, { fromVersion, limit, maxBytes }));

  describe(`${name} store conformance`, () => {
    it("stores a new actor's first event at the version given", async () => {
      const a = actor();
      const r = await getStore().save(ev(a, 1));
      expect(r).toMatchObject({ actorId: a, version: 1, duplicate: false });
      expect(r.sequence).toBeGreaterThan(0);
      expect(await getStore().version(a)).toBe(1);
    });

    it("accepts only versions strictly greater than the latest, gaps allowed", async () => {
      const a = actor();
      await getStore().save(ev(a, 1));
      await getStore().save(ev(a, 5));
      for (const v of [1, 3, 5]) {
        const err = await getStore()
          .save(ev(a, v))
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(VersionConflictError);
        expect(err).toMatchObject({ actorId: a, attemptedVersion: v, currentVersion: 5, code: 409 });
      }
      expect(await getStore().version(a)).toBe(5);
    });

    it("answers a repeated save (same id, same version) as a duplicate with the original sequence", async () => {
      const a = actor();
      const first = ev(a, 1);
      const stored = await getStore().save(first);
      const again = await getStore().save(first);
      expect(again).toEqual({ actorId: a, version: 1, sequence: stored.sequence, duplicate: true });
      await getStore().save(ev(a, 2));
      const later = await getStore().save(first);
      expect(later).toEqual({ actorId: a, version: 1, sequence: stored.sequence, duplicate: true });
      expect((await read(a)).events.map((e) => e.version)).toEqual([1, 2]);
    });

    it("treats the same version with another id as a conflict, not a duplicate", async () => {
      const a = actor();
      await getStore().save(ev(a, 1));
      const err = await getStore()
        .save(ev(a, 1))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VersionConflictError);
      expect((await read(a)).events).toHaveLength(1);
    });

    it("stores an event whose id another actor or another version of the same actor used", async () => {
      const a = actor();
      const b = actor();
      const first = ev(a, 1);
      await getStore().save(first);
      expect(await getStore().save({ ...first, actorId: b })).toMatchObject({ actorId: b, version: 1, duplicate: false });
      expect(await getStore().save({ ...first, version: 2 })).toMatchObject({ actorId: a, version: 2, duplicate: false });
      expect((await read(a)).events.map((e) => [e.version, e.id])).toEqual([
        [1, first.id],
        [2, first.id],
      ]);
      expect((await read(b)).events.map((e) => e.id)).toEqual([first.id]);
    });

    it("compares ids exactly as sent, white space included", async () => {
      for (const id of [" sp ", "nb\u00a0", "ap1\u2028", "\tx"]) {
        const a = actor();
        const event = ev(a, 1, { id });
        const stored = await getStore().save(event);
        expect(await getStore().save(event)).toEqual({ ...stored, duplicate: true });
        const trimmed = await getStore()
          .save({ ...event, id: id.trim() })
          .catch((e: unknown) => e);
        expect(trimmed).toMatchObject({ code: 409, currentVersion: 1 });
        expect((await read(a)).events.map((e) => e.id)).toEqual([id]);
      }
    });

    it("stores the bytes it was given, numbers as written, and adds only the timestamp", async () => {
      const a = actor();
      const text = `{"id":"raw-1", "eventType":"T","actorId":${JSON.stringify(a)},"version":1,"data":{"big":[1e20,1e20],"one":1.0,"long":12345678901234567890123}}`;
      await getStore().save(JSON.parse(text), new TextEncoder().encode(text));
      const page = await getStore().events(a, { maxBytes: 1 << 20 });
      const stored = new TextDecoder().decode(page.encoded[0]);
      expect(stored.startsWith(text.slice(0, -1))).toBe(true);
      expect(JSON.parse(stored)).toMatchObject({ ...JSON.parse(text), timestamp: expect.any(String) });
    });

    it("refuses, storing nothing, an event that could not be returned in a page of its own", async () => {
      const a = actor();
      const err = await getStore()
        .save(ev(a, 1, { data: { big: "x".repeat(1024 * 1024 - 300) } }))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect(await getStore().version(a)).toBe(0);
    });

    it("lets exactly one of many concurrent saves of the same version win", async () => {
      const a = actor();
      await getStore().save(ev(a, 1));
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => getStore().save(ev(a, 2))));
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(7);
      for (const l of lost) expect(l.reason).toMatchObject({ code: 409, currentVersion: 2 });
    });

    it("returns 0 and no events for an unknown actor", async () => {
      const a = actor();
      expect(await getStore().version(a)).toBe(0);
      expect(await read(a)).toEqual({ actorId: a, events: [], hasMore: false });
      expect(await getStore().getSnapshot(a)).toBeUndefined();
    });

    it("reads events in version order, after fromVersion, at most limit", async () => {
      const a = actor();
      for (const v of [1, 2, 4, 7, 8]) await getStore().save(ev(a, v));
      expect((await read(a)).events.map((e) => e.version)).toEqual([1, 2, 4, 7, 8]);
      expect((await read(a, 2)).events.map((e) => e.version)).toEqual([4, 7, 8]);
      expect((await read(a, 3)).events.map((e) => e.version)).toEqual([4, 7, 8]);
      expect(await read(a, 8)).toEqual({ actorId: a, events: [], hasMore: false });
      const page = await read(a, 0, 2);
      expect(page.events.map((e) => e.version)).toEqual([1, 2]);
      expect(page.hasMore).toBe(true);
      const rest = await read(a, 2, 3);
      expect(rest.events.map((e) => e.version)).toEqual([4, 7, 8]);
      expect(rest.hasMore).toBe(false);
    });

    it("pages by size: every page fits maxBytes and together they hold every event once", async () => {
      const a = actor();
      const big = "x".repeat(1000);
      for (let v = 1; v <= 12; v++) await getStore().save(ev(a, v, { data: { big } }));
      const seen: number[] = [];
      let from = 0;
      let pages = 0;
      for (;;) {
        const page = await getStore().events(a, { fromVersion: from, maxBytes: 4000 });
        const body = decodePage(page);
        expect(JSON.stringify(body).length).toBeLessThanOrEqual(4000);
        seen.push(...body.events.map((e) => e.version));
        pages++;
        if (!body.hasMore) break;
        from = body.events.at(-1)!.version;
      }
      expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      expect(pages).toBeGreaterThanOrEqual(4);
    });

    it("stores the event as given and sets a timestamp only when there is none", async () => {
      const a = actor();
      const given = ev(a, 1, { metadata: { correlationId: "c-1" }, timestamp: "2024-01-02T03:04:05.000Z" });
      await getStore().save(given);
      const without = ev(a, 2);
      const before = Date.now();
      await getStore().save(without);
      const [e1, e2] = (await read(a)).events;
      expect(e1).toEqual(given);
      expect(e2).toMatchObject({ ...without });
      expect(Date.parse(e2!.timestamp!)).toBeGreaterThanOrEqual(before - 1000);
    });

    it("keeps actors whose ids differ only in punctuation apart", async () => {
      const suffix = randomUUID();
      const ids = [`acct-a.b${suffix}`, `acct-a_b${suffix}`, `acct-a b${suffix}`, `acct-a~2eb${suffix}`];
      for (const id of ids) await getStore().save(ev(id, 1, { data: { id } }));
      for (const id of ids) {
        const page = await read(id);
        expect(page.events.map((e) => e.data)).toEqual([{ id }]);
      }
    });

    it("saves snapshots, returns the latest, refuses one ahead of the events", async () => {
      const a = actor();
      await getStore().save(ev(a, 1));
      await getStore().save(ev(a, 2));
      const ahead = await getStore()
        .saveSnapshot({ actorId: a, version: 3, state: {} })
        .catch((e: unknown) => e);
      expect(ahead).toBeInstanceOf(VersionConflictError);
      expect(ahead).toMatchObject({ attemptedVersion: 3, currentVersion: 2 });
      expect(await getStore().getSnapshot(a)).toBeUndefined();
      expect(await getStore().saveSnapshot({ actorId: a, version: 1, state: { s: 1 } })).toEqual({ actorId: a, version: 1 });
      await getStore().saveSnapshot({ actorId: a, version: 2, state: { s: 2 }, timestamp: "2025-05-05T05:05:05Z" });
      expect((await getStore().getSnapshot(a))?.snapshot).toEqual({
        actorId: a,
        version: 2,
        state: { s: 2 },
        timestamp: "2025-05-05T05:05:05Z",
      });
    });

    it("answers the snapshot with the highest version; older ones never evict it", async () => {
      const a = actor();
      await getStore().save(ev(a, 10));
      await getStore().saveSnapshot({ actorId: a, version: 10, state: { v: 10 } });
      for (const v of [5, 6, 7, 8]) {
        expect(await getStore().saveSnapshot({ actorId: a, version: v, state: { v } })).toEqual({ actorId: a, version: v });
      }
      expect((await getStore().getSnapshot(a))?.snapshot).toMatchObject({ version: 10, state: { v: 10 } });
      await getStore().saveSnapshot({ actorId: a, version: 10, state: { v: "10b" } });
      expect((await getStore().getSnapshot(a))?.snapshot).toMatchObject({ version: 10, state: { v: "10b" } });
    });
  });
}

/** What every EventStore's append must do: all events or none, at consecutive versions, idempotent by ids. */
export function appendConformance(name: string, getStore: () => EventStore): void {
  const actor = () => `order-${randomUUID()}`;
  const batch = (actorId: string, from: number, count: number) => events(actorId, from, count);
  const versions = async (actorId: string) =>
    decodePage(await getStore().events(actorId, { maxBytes: 1024 * 1024 })).events.map((e) => e.version);

  describe(`${name} store append conformance`, () => {
    it("stores a new actor's events at consecutive versions and reads them back in order", async () => {
      const a = actor();
      const events = batch(a, 1, 5);
      const r = await getStore().append(a, events);
      expect(r).toMatchObject({ actorId: a, fromVersion: 1, toVersion: 5, duplicate: false });
      expect(r.sequences).toHaveLength(5);
      for (const [i, seq] of r.sequences.entries()) if (i > 0) expect(seq).toBeGreaterThan(r.sequences[i - 1]!);
      expect(await getStore().version(a)).toBe(5);
      const stored = decodePage(await getStore().events(a, { maxBytes: 1024 * 1024 })).events;
      expect(stored.map((e) => e.id)).toEqual(events.map((e) => e.id));
      for (const e of stored) expect(Date.parse(e.timestamp!)).not.toBeNaN();
    });

    it("continues after saved events, gaps before the first allowed, and saves continue after it", async () => {
      const a = actor();
      await getStore().save(ev(a, 1));
      const r = await getStore().append(a, batch(a, 4, 3));
      expect(r).toMatchObject({ fromVersion: 4, toVersion: 6 });
      expect((await getStore().save(ev(a, 7))).version).toBe(7);
      expect(await versions(a)).toEqual([1, 4, 5, 6, 7]);
    });

    it("refuses a batch whose first version is not above the latest, naming the current version, and stores none of it", async () => {
      const a = actor();
      await getStore().append(a, batch(a, 1, 3));
      for (const from of [1, 2, 3]) {
        const err = await getStore()
          .append(a, batch(a, from, 4))
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(VersionConflictError);
        expect(err).toMatchObject({ code: 409, actorId: a, attemptedVersion: from, currentVersion: 3 });
      }
      expect(await versions(a)).toEqual([1, 2, 3]);
    });

    it("answers a repeated append (same ids, same versions) as a duplicate with the original sequences", async () => {
      const a = actor();
      const events = batch(a, 1, 4);
      const stored = await getStore().append(a, events);
      expect(await getStore().append(a, events)).toEqual({ ...stored, duplicate: true });
      await getStore().save(ev(a, 5));
      expect(await getStore().append(a, events)).toEqual({ ...stored, duplicate: true });
      expect(await versions(a)).toEqual([1, 2, 3, 4, 5]);
    });

    it("treats a repeat that differs in any id, or goes past the latest version, as a conflict", async () => {
      const a = actor();
      const events = batch(a, 1, 3);
      await getStore().append(a, events);
      const changed = [events[0]!, events[1]!, ev(a, 3)];
      expect(
        await getStore()
          .append(a, changed)
          .catch((e: unknown) => e),
      ).toMatchObject({ code: 409, currentVersion: 3 });
      const longer = [...events, ev(a, 4)];
      expect(
        await getStore()
          .append(a, longer)
          .catch((e: unknown) => e),
      ).toMatchObject({ code: 409, currentVersion: 3 });
      expect(await versions(a)).toEqual([1, 2, 3]);
    });

    it("refuses a malformed batch before storing anything", async () => {
      const a = actor();
      const gap = [ev(a, 1), ev(a, 3)];
      const other = [ev(a, 1), ev(actor(), 2)];
      const sameId = batch(a, 1, 2);
      sameId[1]!.id = sameId[0]!.id;
      for (const bad of [gap, other, sameId, []]) {
        expect(
          await getStore()
            .append(a, bad)
            .catch((e: unknown) => e),
        ).toBeInstanceOf(ValidationError);
      }
      expect(await getStore().version(a)).toBe(0);
    });

    it("takes 1000 events in one append and refuses 1001 with a 400", async () => {
      const a = actor();
      const tooMany = await getStore()
        .append(a, batch(a, 1, 1001))
        .catch((e: unknown) => e);
      expect(tooMany).toBeInstanceOf(ValidationError);
      expect(await getStore().version(a)).toBe(0);
      const r = await getStore().append(a, batch(a, 1, 1000));
      expect(r).toMatchObject({ fromVersion: 1, toVersion: 1000 });
      expect(r.sequences.at(-1)! - r.sequences[0]!).toBe(999);
    });

    it("stores a batch whose ids other actors or versions used", async () => {
      const a = actor();
      const taken = ev(actor(), 1);
      await getStore().save(taken);
      const r = await getStore().append(a, [ev(a, 1), { ...taken, actorId: a, version: 2 }]);
      expect(r).toMatchObject({ fromVersion: 1, toVersion: 2, duplicate: false });
      const again = await getStore().append(a, [ev(a, 3, { id: " w " }), ev(a, 4, { id: "w" })]);
      expect(await getStore().append(a, [ev(a, 3, { id: " w " }), ev(a, 4, { id: "w" })])).toEqual({ ...again, duplicate: true });
      expect(await versions(a)).toEqual([1, 2, 3, 4]);
    });

    it("answers a repeat whose first event matches but a later one does not as a conflict only", async () => {
      const a = actor();
      const events = batch(a, 1, 3);
      await getStore().append(a, events);
      const duplicates = getStore().counters.append.duplicates;
      const conflicts = getStore().counters.append.conflicts;
      const err = await getStore()
        .append(a, [events[0]!, ev(a, 2), events[2]!])
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 409, currentVersion: 3 });
      expect(getStore().counters.append.duplicates).toBe(duplicates);
      expect(getStore().counters.append.conflicts).toBe(conflicts + 1);
    });

    it("lets exactly one of many concurrent appends at the same versions win", async () => {
      const a = actor();
      await getStore().save(ev(a, 1));
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => getStore().append(a, batch(a, 2, 3))));
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(won).toHaveLength(1);
      for (const l of lost) expect(l.reason).toMatchObject({ code: 409, attemptedVersion: 2, currentVersion: 4 });
      expect(await versions(a)).toEqual([1, 2, 3, 4]);
    });

    it("never interleaves concurrent saves and appends: each append's events stay together", async () => {
      const a = actor();
      const writers = Array.from({ length: 6 }, (_, w) => async () => {
        const acked: number[][] = [];
        for (let round = 0; round < 5; round++) {
          const current = await getStore().version(a);
          const next = current + 1;
          const write =
            w % 2 === 0
              ? getStore()
                  .append(a, batch(a, next, 3))
                  .then((r) => r.sequences)
              : getStore()
                  .save(ev(a, next))
                  .then((r) => [r.sequence]);
          const seqs = await write.catch((e: unknown) => {
            expect(e).toMatchObject({ code: 409 });
            return undefined;
          });
          if (seqs) acked.push(seqs);
        }
        return acked;
      });
      const acked = (await Promise.all(writers.map((w) => w()))).flat();
      const all = acked.flat().sort((x, y) => x - y);
      const stored = await versions(a);
      expect(stored).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
      for (const seqs of acked) {
        // an append's sequences follow each other: no other write landed between them
        const first = all.indexOf(seqs[0]!);
        expect(all.slice(first, first + seqs.length)).toEqual(seqs);
      }
    });
  });
}

/** What every EventStore's transact must do: several actors' events all stored or none, idempotent, racing safely. */
export function transactConformance(name: string, getStore: () => EventStore): void {
  const actor = (type = "acct") => `${type}-${randomUUID()}`;
  const part = (actorId: string, from: number, count = 1) => ({
    actorId,
    events: Array.from({ length: count }, (_, i) => ev(actorId, from + i)),
  });
  const versions = async (actorId: string) =>
    decodePage(await getStore().events(actorId, { maxBytes: 1024 * 1024 })).events.map((e) => e.version);

  describe(`${name} store transact conformance`, () => {
    it("stores every actor's events together, with consecutive sequences, in the request's order", async () => {
      const [a, b] = [actor(), actor()];
      await getStore().save(ev(b, 1));
      const r = await getStore().transact([part(a, 1, 2), part(b, 2, 1)]);
      expect(r.duplicate).toBe(false);
      expect(r.appends.map((x) => [x.actorId, x.fromVersion, x.toVersion, x.sequences.length])).toEqual([
        [a, 1, 2, 2],
        [b, 2, 2, 1],
      ]);
      const seqs = r.appends.flatMap((x) => x.sequences);
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
      expect(await versions(a)).toEqual([1, 2]);
      expect(await versions(b)).toEqual([1, 2]);
    });

    it("stores nothing when any actor is behind, naming every actor that is", async () => {
      const [a, b, c] = [actor(), actor(), actor()];
      await getStore().save(ev(b, 3));
      await getStore().save(ev(c, 1));
      const err = await getStore()
        .transact([part(a, 1), part(b, 2), part(c, 1)])
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VersionConflictError);
      expect(err).toMatchObject({
        code: 409,
        actorId: b,
        attemptedVersion: 2,
        currentVersion: 3,
        conflicts: [
          { actorId: b, attemptedVersion: 2, currentVersion: 3 },
          { actorId: c, attemptedVersion: 1, currentVersion: 1 },
        ],
      });
      expect(await versions(a)).toEqual([]);
      expect(await versions(b)).toEqual([3]);
    });

    it("answers a retry of the same transaction as a duplicate with the original sequences, also after later writes", async () => {
      const [a, b] = [actor(), actor()];
      const tx = [part(a, 1, 2), part(b, 1, 1)];
      const first = await getStore().transact(tx);
      expect(await getStore().transact(tx)).toEqual({ ...first, duplicate: true });
      await getStore().save(ev(a, 3));
      expect(await getStore().transact(tx)).toEqual({ ...first, duplicate: true });
      expect(await versions(a)).toEqual([1, 2, 3]);
    });

    it("treats a transaction of which only some actors' parts are stored as a conflict", async () => {
      const [a, b] = [actor(), actor()];
      const pa = part(a, 1);
      await getStore().append(a, pa.events);
      const err = await getStore()
        .transact([pa, part(b, 1)])
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 409, conflicts: [{ actorId: a, attemptedVersion: 1, currentVersion: 1 }] });
      expect(await versions(b)).toEqual([]);
    });

    it("refuses with 400 what the contract forbids, storing nothing", async () => {
      const [a, b] = [actor(), actor()];
      const shared = part(b, 1);
      shared.events[0]!.id = "same";
      const withSame = part(a, 1);
      withSame.events[0]!.id = "same";
      const bad = [
        [],
        [part(a, 1), part(a, 2)],
        [{ actorId: a, events: [ev(b, 1)] }],
        [withSame, shared],
        [{ actorId: a, events: [ev(a, 1), ev(a, 3)] }],
        [part(a, 1, 600), part(b, 1, 401)],
        Array.from({ length: 101 }, () => part(actor(), 1)),
      ];
      for (const appends of bad) {
        expect(
          await getStore()
            .transact(appends)
            .catch((e: unknown) => e),
        ).toBeInstanceOf(ValidationError);
      }
      expect(await versions(a)).toEqual([]);
      expect(await versions(b)).toEqual([]);
    });

    it("lets racing overlapping transactions, appends and saves each land whole or not at all", async () => {
      const accounts = [actor(), actor(), actor()];
      const acked: { actorId: string; versions: number[] }[][] = [];
      const writers = Array.from({ length: 6 }, (_, w) => async () => {
        for (let round = 0; round < 6; round++) {
          const mine = w % 3 === 0 ? [accounts[w % 3]!] : [accounts[w % 3]!, accounts[(w + 1) % 3]!];
          const heads = await Promise.all(mine.map((a) => getStore().version(a)));
          const parts = mine.map((a, i) => part(a, heads[i]! + 1, 1 + (round % 2)));
          const written = await getStore()
            .transact(parts)
            .then(() => parts.map((p) => ({ actorId: p.actorId, versions: p.events.map((e) => e.version) })))
            .catch((e: unknown) => {
              expect(e).toMatchObject({ code: 409 });
              return undefined;
            });
          if (written) acked.push(written);
        }
      });
      await Promise.all(writers.map((w) => w()));
      expect(acked.length).toBeGreaterThan(0);
      for (const a of accounts) {
        const mine = acked.flatMap((tx) => tx.filter((p) => p.actorId === a).flatMap((p) => p.versions)).sort((x, y) => x - y);
        expect(await versions(a)).toEqual(mine);
      }
    });
  });
}

/** What every EventStore's erase must do: the actor's events and snapshots gone, a tombstone that refuses writes. */
export function eraseConformance(name: string, getStore: () => EventStore): void {
  const actor = () => `person-${randomUUID()}`;

  describe(`${name} store erase conformance`, () => {
    it("removes every event and snapshot; reads say erased; writes answer 410; other actors stay", async () => {
      const [a, other] = [actor(), actor()];
      await getStore().append(a, [ev(a, 1), ev(a, 2), ev(a, 3)]);
      await getStore().save(ev(other, 1));
      await getStore().saveSnapshot({ actorId: a, version: 2, state: { s: 2 } });
      await getStore().saveSnapshot({ actorId: a, version: 3, state: { s: 3 } });
      const r = await getStore().erase(a, "customer request");
      expect(r).toMatchObject({ actorId: a, version: 3, erasedEvents: 3, erasedSnapshots: 2 });
      expect(Date.parse(r.erasedAt)).not.toBeNaN();
      expect(await getStore().versionInfo(a)).toEqual({ actorId: a, version: 3, erased: true });
      expect(decodePage(await getStore().events(a, { maxBytes: 1 << 20 }))).toEqual({
        actorId: a,
        events: [],
        hasMore: false,
        erased: true,
      });
      expect(await getStore().getSnapshot(a)).toBeUndefined();
      for (const write of [
        () => getStore().save(ev(a, 4)),
        () => getStore().save(ev(a, 1)),
        () => getStore().append(a, [ev(a, 4)]),
        () => getStore().transact([{ actorId: a, events: [ev(a, 4)] }]),
        () => getStore().saveSnapshot({ actorId: a, version: 3, state: {} }),
      ]) {
        const err = await write().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ErasedError);
        expect(err).toMatchObject({ code: 410, actorId: a, erasedAt: r.erasedAt });
      }
      expect(await getStore().versionInfo(other)).toEqual({ actorId: other, version: 1 });
    });

    it("answers erasing again with zero counts and the first erasedAt; erasing an unknown actor keeps its id used", async () => {
      const a = actor();
      await getStore().save(ev(a, 1));
      const first = await getStore().erase(a);
      expect(await getStore().erase(a)).toEqual({ ...first, erasedEvents: 0, erasedSnapshots: 0 });
      const never = actor();
      expect(await getStore().erase(never)).toMatchObject({ actorId: never, version: 0, erasedEvents: 0, erasedSnapshots: 0 });
      expect(
        await getStore()
          .save(ev(never, 1))
          .catch((e: unknown) => e),
      ).toBeInstanceOf(ErasedError);
    });
  });
}
