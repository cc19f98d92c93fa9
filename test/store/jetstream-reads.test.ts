import { randomUUID } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Subjects } from "../../src/contract/subjects.js";
import type { Event } from "../../src/contract/types.js";
import { StreamReader } from "../../src/server/jetstream/reader.js";
import { Requester } from "../../src/server/jetstream/requester.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import { StaleIndexError, storedMsgs } from "../../src/server/jetstream-store/stored-msg.js";
import { ensureStreams } from "../../src/server.js";
import { event as ev, events as evs } from "../harness/events.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { decodePage } from "../harness/pages.js";

// Reads by known sequence: the per-actor index must give the same answers as a scan would, and
// must notice when the stream no longer matches what it remembers.
const subjects = new Subjects("READS");
let server: NatsServer;
let nc: NatsConnection;

const open = (indexSize = 1_000_000) =>
  new JetStreamEventStore(nc, { subjects, cacheSize: 1000, timeoutMs: 5000, atomicBatch: true, indexSize });
const versions = async (store: JetStreamEventStore, actorId: string, fromVersion = 0, limit?: number) =>
  decodePage(await store.events(actorId, { fromVersion, limit, maxBytes: 1 << 20 })).events.map((e) => e.version);

async function others(count: number): Promise<void> {
  const js = jetstream(nc);
  await Promise.all(Array.from({ length: count }, (_, i) => js.publish(`READS.events.noise.n-${i}`, "{}", { headers: undefined })));
}

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  await ensureStreams(
    await jetstreamManager(nc),
    { subjects, replicas: 1, snapshotsKeep: 1, atomicBatch: true },
    pino({ level: "silent" }),
  );
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe("reads by sequence", () => {
  it("reads histories whose events lie far apart and close together alike", async () => {
    const actorId = `order-${randomUUID()}`;
    const store = open();
    for (let v = 1; v <= 30; v++) {
      await store.save(ev(actorId, v));
      // every fifth event is followed by many other messages, the rest sit close together
      if (v % 5 === 0) await others(150);
    }
    expect(await versions(store, actorId)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(await versions(store, actorId, 12, 7)).toEqual([13, 14, 15, 16, 17, 18, 19]);
    // a store that never saw the actor learns the same history
    expect(await versions(open(), actorId, 25)).toEqual([26, 27, 28, 29, 30]);
  });

  it("catches up with writes made elsewhere after it indexed the actor", async () => {
    const actorId = `order-${randomUUID()}`;
    const reader = open();
    const writer = open();
    await writer.save(ev(actorId, 1));
    expect(await versions(reader, actorId)).toEqual([1]);
    await writer.save(ev(actorId, 2));
    await writer.append(actorId, [ev(actorId, 3), ev(actorId, 4)]);
    expect(await versions(reader, actorId)).toEqual([1, 2, 3, 4]);
    expect(await versions(reader, actorId, 3)).toEqual([4]);
  });

  it("notices messages removed from under its index and reads the stream as it is", async () => {
    const actorId = `order-${randomUUID()}`;
    const store = open();
    const seqs: number[] = [];
    for (let v = 1; v <= 4; v++) seqs.push((await store.save(ev(actorId, v))).sequence);
    expect(await versions(store, actorId)).toEqual([1, 2, 3, 4]);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.deleteMessage("READS", seqs[1]!);
    expect(await versions(store, actorId)).toEqual([1, 3, 4]);
    await jsm.streams.purge("READS", { filter: subjects.events(actorId) });
    expect(await versions(store, actorId)).toEqual([]);
    expect(await store.version(actorId)).toBe(0);
    await store.save(ev(actorId, 1));
    expect(await versions(store, actorId)).toEqual([1]);
  });

  it("answers the same with an index too small to keep anything for long", async () => {
    const store = open(1);
    const actors = Array.from({ length: 5 }, () => `order-${randomUUID()}`);
    for (let v = 1; v <= 6; v++) for (const a of actors) await store.save(ev(a, v));
    for (const a of actors) expect(await versions(store, a, 2)).toEqual([3, 4, 5, 6]);
  });
});

describe("concurrent reads of a long actor through a small index", () => {
  it("reads exactly what each read asks for, and answers a retry as a duplicate, while others trim the index", async () => {
    const a = `long-${randomUUID()}`;
    const writer = open();
    // 200 entries in all: the reader keeps a tail of 136 entries of the actor
    const reader = open(200);
    const stored: Event[] = [];
    const write = async (count: number) => {
      for (let left = count; left > 0; left -= 500) {
        const batch = evs(a, stored.length + 1, Math.min(500, left));
        await writer.append(a, batch);
        stored.push(...batch);
      }
    };
    await write(1000);
    expect(await versions(reader, a, 990)).toHaveLength(10);
    for (let round = 0; round < 3; round++) {
      const head = stored.length;
      // written elsewhere: the reader's tail of the actor is far behind, and every read scans
      await write(2000);
      const retried = stored[head - 20]!;
      const [early, late, retry] = await Promise.all([
        versions(reader, a, head - 100, 5),
        versions(reader, a, head - 50, 5),
        reader.save(retried),
      ]);
      expect({ round, early, late }).toEqual({
        round,
        early: [1, 2, 3, 4, 5].map((i) => head - 100 + i),
        late: [1, 2, 3, 4, 5].map((i) => head - 50 + i),
      });
      expect(retry).toMatchObject({ version: retried.version, duplicate: true });
    }
  });
});

describe("what a page fetches", () => {
  it("fetches about what the page's byte budget holds, not every remaining event", async () => {
    const a = `big-${randomUUID()}`;
    const store = open();
    const blob = "b".repeat(5000);
    await store.append(
      a,
      Array.from({ length: 200 }, (_, i) => ({ ...ev(a, i + 1), data: { blob } })),
    );
    await store.events(a, { maxBytes: 12_000 });
    const before = nc.stats().inBytes;
    const page = decodePage(await store.events(a, { maxBytes: 12_000 }));
    const received = nc.stats().inBytes - before;
    expect(page.events.map((e) => e.version)).toEqual([1, 2]);
    expect(page.hasMore).toBe(true);
    // the head, and a round of about what 12 kB holds: far from the 200 events' 1 MB
    expect(received).toBeLessThan(10 * 5000);
  });

  it("starts a read again when the history's last message is deleted during its scan", async () => {
    const a = `gone-${randomUUID()}`;
    const writer = open();
    for (let v = 1; v <= 3; v++) await writer.save(ev(a, v));
    const reader = new StreamReader(
      nc,
      new Requester(nc, 5000),
      {
        stream: subjects.stream,
        timeoutMs: 5000,
        replicated: false,
        batchDirectGet: true,
        maxPayload: 1 << 20,
      },
      storedMsgs,
    );
    const head = (await reader.current(subjects.events(a)))!;
    await (await jetstreamManager(nc)).streams.deleteMessage(subjects.stream, head.seq);
    const err = await reader.scan(subjects.events(a), 1, head.seq, () => true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StaleIndexError);
    expect(await versions(open(), a)).toEqual([1, 2]);
  });
});

describe("long pages, read through a consumer", () => {
  // A read deletes its consumer without waiting for the answer: wait until none is left.
  const consumers = async () => {
    const jsm = await jetstreamManager(nc);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const count = (await jsm.streams.info("READS")).state.consumer_count;
      if (count === 0 || Date.now() > deadline) return count;
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it("reads every event of a long history in order, interleaved with other actors, and leaves no consumer", async () => {
    const a = `long-${randomUUID()}`;
    const store = open();
    for (let from = 1; from <= 1500; from += 500) {
      await store.append(
        a,
        Array.from({ length: 500 }, (_, i) => ev(a, from + i)),
      );
      await others(50);
    }
    let created = 0;
    const advisories = nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.CREATED.READS.*", {
      callback: () => {
        created++;
      },
    });
    const all = Array.from({ length: 1500 }, (_, i) => i + 1);
    expect(await versions(store, a)).toEqual(all);
    expect(await versions(open(), a, 700)).toEqual(all.slice(700));
    await nc.flush();
    advisories.unsubscribe();
    expect(created).toBeGreaterThanOrEqual(2);
    expect(await consumers()).toBe(0);
  });

  it("notices a message deleted inside the run and reads the history as it is", async () => {
    const a = `long-${randomUUID()}`;
    const store = open();
    const seqs = (
      await store.append(
        a,
        Array.from({ length: 400 }, (_, i) => ev(a, i + 1)),
      )
    ).sequences;
    expect((await versions(store, a)).length).toBe(400);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.deleteMessage("READS", seqs[200]!);
    expect(await versions(store, a)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1).filter((v) => v !== 201));
    expect(await consumers()).toBe(0);
  });
});
