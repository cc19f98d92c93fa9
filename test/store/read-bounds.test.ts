import { randomUUID } from "node:crypto";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { pino } from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { Headers, Subjects } from "../../src/contract/subjects.js";
import { readByConsumer } from "../../src/server/jetstream/consumer-read.js";
import { Requester } from "../../src/server/jetstream/requester.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import { ScannedForPage } from "../../src/server/jetstream-store/read-page.js";
import { tombstone } from "../../src/server/store/tombstone.js";
import { ensureStreams, eventsStreamConfig, snapshotsStreamConfig } from "../../src/server.js";
import { event as ev } from "../harness/events.js";
import { useNatsServer } from "../harness/fixture.js";
import { decodePage } from "../harness/pages.js";

// Reads that depend on nothing but the stream (issue 22, findings 4, 7, 8, 9 and 12): bounded in
// bytes, through direct gets when no consumer can be had, never from a mirror, settling while
// messages are deleted, and no snapshot of an erased actor.
const f = useNatsServer();
const subjects = new Subjects("READS");

const open = (indexSize = 1_000_000, streams = subjects) =>
  new JetStreamEventStore(f.nc, { subjects: streams, cacheSize: 1000, timeoutMs: 5000, atomicBatch: true, indexSize });
const versions = async (store: JetStreamEventStore, actorId: string, fromVersion = 0, limit?: number) =>
  decodePage(await store.events(actorId, { fromVersion, limit, maxBytes: 1 << 20 })).events.map((e) => e.version);

/** Appends `count` events from version `from` on, in requests of at most `per` events. */
async function appendMany(store: JetStreamEventStore, actorId: string, count: number, event = ev, per = 500): Promise<number[]> {
  const seqs: number[] = [];
  for (let from = 1; from <= count; from += per) {
    const n = Math.min(per, count - from + 1);
    seqs.push(
      ...(
        await store.append(
          actorId,
          Array.from({ length: n }, (_, i) => event(actorId, from + i)),
        )
      ).sequences,
    );
  }
  return seqs;
}

const large = (actorId: string, version: number) => ({ ...ev(actorId, version), data: { blob: "l".repeat(10_000) } });

beforeAll(async () => {
  await ensureStreams(
    await jetstreamManager(f.nc),
    { subjects, replicas: 1, snapshotsKeep: 1, atomicBatch: true },
    pino({ level: "silent" }),
  );
});

describe("a read is bounded in bytes (issue 22, finding 7)", () => {
  it("pulls about one max_payload for a page of 10 kB events whose last event is small", async () => {
    const a = `large-${randomUUID()}`;
    const store = open();
    await appendMany(store, a, 1000, large, 90);
    await store.save(ev(a, 1001));
    const before = f.nc.stats().inBytes;
    const page = decodePage(await store.events(a, { maxBytes: 1 << 20 }));
    const received = f.nc.stats().inBytes - before;
    expect(page.events.map((e) => e.version)).toEqual(Array.from({ length: page.events.length }, (_, i) => i + 1));
    expect(page.events.length).toBeGreaterThan(90);
    expect(page.hasMore).toBe(true);
    // the page's 1 MB and at most about one more round, not the history's 10 MB
    expect(received).toBeLessThan(3 * (1 << 20));
  });

  it("keeps of a history learned from its start only what the page can use, about a page of it", () => {
    const kept = new ScannedForPage(2, 10);
    for (let v = 1; v <= 6; v++) kept.set(v, { seq: v, subject: "s", version: v, data: new Uint8Array(4) });
    expect([...kept.keys()]).toEqual([3, 4, 5]);
  });

  it("reads a long history of large events from a store that never saw it, from its start and from its middle", async () => {
    const a = `large-${randomUUID()}`;
    await appendMany(open(), a, 400, large, 90);
    const first = decodePage(await open().events(a, { maxBytes: 1 << 20 }));
    expect(first.events.map((e) => e.version)).toEqual(Array.from({ length: first.events.length }, (_, i) => i + 1));
    const middle = decodePage(await open().events(a, { fromVersion: 250, maxBytes: 1 << 20 }));
    expect(middle.events.map((e) => e.version)).toEqual(Array.from({ length: middle.events.length }, (_, i) => i + 251));
    expect(first.hasMore && middle.hasMore).toBe(true);
  });

  it("ends a pull whose bytes run out exactly without waiting for a status", async () => {
    const a = `exact-${randomUUID()}`;
    const store = open();
    const seqs = await appendMany(store, a, 10);
    const requester = new Requester(f.nc, 5000);
    const all = await readByConsumer(f.nc, requester, "READS", subjects.events(a), seqs[0]!, 10, 1 << 20, 5000);
    const sizes = all.map((d) => (d.msg as typeof d.msg & { size(): number }).size());
    const exact = sizes[0]! + sizes[1]! + sizes[2]!;
    const t = Date.now();
    const got = await readByConsumer(f.nc, requester, "READS", subjects.events(a), seqs[0]!, 10, exact, 5000);
    expect(got.map((d) => d.seq)).toEqual(seqs.slice(0, 3));
    expect(Date.now() - t).toBeLessThan(4000);
  });
});

describe("long reads when no consumer can be created (issue 22, finding 8)", () => {
  const limited = new Subjects("LIMITED");

  beforeAll(async () => {
    const jsm = await jetstreamManager(f.nc);
    const settings = { subjects: limited, replicas: 1, snapshotsKeep: 1, atomicBatch: true };
    await jsm.streams.add({ ...eventsStreamConfig(settings), max_consumers: 1 });
    await jsm.streams.add(snapshotsStreamConfig(settings));
    // a projection holds the stream's only consumer
    await jsm.consumers.add(limited.stream, { durable_name: "projection", ack_policy: AckPolicy.Explicit });
  });

  it("reads every event of a long history through direct gets, and stops trying consumers for a while", async () => {
    const a = `long-${randomUUID()}`;
    const store = open(1_000_000, limited);
    await appendMany(store, a, 1500);
    let creates = 0;
    const sub = f.nc.subscribe(`$JS.API.CONSUMER.CREATE.${limited.stream}.>`, {
      callback: () => {
        creates++;
      },
    });
    const all = Array.from({ length: 1500 }, (_, i) => i + 1);
    expect(await versions(store, a)).toEqual(all);
    expect(await versions(store, a, 700)).toEqual(all.slice(700));
    expect(await versions(store, a, 0, 400)).toEqual(all.slice(0, 400));
    await f.nc.flush();
    sub.unsubscribe();
    expect(creates).toBe(1);
  });

  it("bounds the direct gets of a page in bytes too", async () => {
    const a = `large-${randomUUID()}`;
    const store = open(1_000_000, limited);
    await appendMany(store, a, 600, large, 90);
    await store.save(ev(a, 601));
    const before = f.nc.stats().inBytes;
    const page = decodePage(await store.events(a, { maxBytes: 1 << 20 }));
    const received = f.nc.stats().inBytes - before;
    expect(page.events.map((e) => e.version)).toEqual(Array.from({ length: page.events.length }, (_, i) => i + 1));
    expect(page.hasMore).toBe(true);
    expect(received).toBeLessThan(3 * (1 << 20));
  });
});

describe("an operator's mirror of the stream (issue 22, finding 9)", () => {
  const own = new Subjects("MIRRORED");
  const copy = "MIRRORED_COPY";

  beforeAll(async () => {
    const jsm = await jetstreamManager(f.nc);
    await ensureStreams(jsm, { subjects: own, replicas: 1, snapshotsKeep: 1, atomicBatch: true }, pino({ level: "silent" }));
    await jsm.streams.add({ name: copy, mirror: { name: own.stream }, mirror_direct: true });
  });

  /** Resolves once the mirror holds every message the stream has ever stored. */
  async function mirrored(): Promise<void> {
    const jsm = await jetstreamManager(f.nc);
    const want = (await jsm.streams.info(own.stream)).state.last_seq;
    const deadline = Date.now() + 15_000;
    while ((await jsm.streams.info(copy)).state.last_seq < want) {
      if (Date.now() > deadline) throw new Error("the mirror did not catch up");
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it("decides from the stream itself after an operator purge that the mirror does not copy", async () => {
    const a = `order-${randomUUID()}`;
    const store = open(1_000_000, own);
    const events = Array.from({ length: 5 }, (_, i) => ev(a, i + 1));
    for (const e of events) await store.save(e);
    await mirrored();
    await (await jetstreamManager(f.nc)).streams.purge(own.stream, { filter: own.events(a) });
    const answers = [];
    for (let i = 0; i < 20; i++) answers.push(await open(1_000_000, own).version(a));
    expect(answers).toEqual(answers.map(() => 0));
    expect(await versions(open(1_000_000, own), a)).toEqual([]);
    // a retry of the purged event is not a duplicate of anything the stream holds: it is stored again
    const again = await open(1_000_000, own).save(events[4]!);
    expect(again.duplicate).toBe(false);
    expect(await versions(open(1_000_000, own), a)).toEqual([5]);
  });

  it("reads histories as the stream holds them, not as the mirror does", async () => {
    const a = `long-${randomUUID()}`;
    const seqs = await appendMany(open(1_000_000, own), a, 300);
    await mirrored();
    // deleted from the stream only: the mirror keeps it
    await (await jetstreamManager(f.nc)).streams.deleteMessage(own.stream, seqs[150]!);
    const want = Array.from({ length: 300 }, (_, i) => i + 1).filter((v) => v !== 151);
    for (let i = 0; i < 8; i++) {
      expect(await versions(open(1_000_000, own), a)).toEqual(want);
      expect(await versions(open(1_000_000, own), a, 100, 100)).toEqual(want.slice(100, 200));
    }
  });
});

describe("reads while messages are deleted (issue 22, finding 12)", () => {
  it("answers every page, each as the stream held it, while an operator deletes the actor's messages", async () => {
    const a = `shrinking-${randomUUID()}`;
    const store = open();
    const seqs = await appendMany(store, a, 4000);
    const jsm = await jetstreamManager(f.nc);
    // every other message but the last, from the start, four deletes in flight
    const doomed = seqs.slice(0, -1).filter((_, i) => i % 2 === 1);
    let reading = true;
    const deleter = Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        for (let i = w; i < doomed.length && reading; i += 4) await jsm.streams.deleteMessage("READS", doomed[i]!, false);
      }),
    );
    const failures: unknown[] = [];
    let pages = 0;
    const reader = async () => {
      for (let round = 0; round < 6; round++) {
        let from = 0;
        for (;;) {
          const page = await store.events(a, { fromVersion: from, limit: 700, maxBytes: 1 << 20 }).catch((err: unknown) => {
            failures.push(err);
            return undefined;
          });
          if (!page) break;
          pages++;
          const got = decodePage(page).events.map((e) => e.version);
          // in order, after the page's start, and never a version that was never stored
          expect(got.every((v, i) => v > (i === 0 ? from : got[i - 1]!) && v <= 4000)).toBe(true);
          if (!page.hasMore) break;
          from = got.at(-1)!;
        }
      }
    };
    await Promise.all([reader(), reader(), reader()]);
    reading = false;
    await deleter;
    expect(failures).toEqual([]);
    expect(pages).toBeGreaterThan(18);
  });
});

describe("snapshot_get of an erased actor (issue 22, finding 4)", () => {
  it("answers no snapshot when an erase stopped after its tombstone, before purging the snapshots", async () => {
    const a = `erased-${randomUUID()}`;
    const store = open();
    await store.save(ev(a, 1));
    const { sequence } = await store.save(ev(a, 2));
    await store.saveSnapshot({ actorId: a, version: 2, state: { secret: "personal data" } });
    expect(await store.getSnapshot(a)).toBeDefined();
    // the erase's first step alone, as a replica that died right after it leaves it
    const stone = tombstone(a, 2, "test");
    const h = headers();
    h.set(Headers.version, "2");
    h.set(Headers.erased, stone.erasedAt);
    await jetstream(f.nc).publish(subjects.events(a), stone.json, { headers: h, expect: { lastSubjectSequence: sequence } });
    expect(await open().getSnapshot(a)).toBeUndefined();
    expect(await store.getSnapshot(a)).toBeUndefined();
    expect((await open().versionInfo(a)).erased).toBe(true);
  });
});
