import { randomUUID } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErasedError, InternalError, VersionConflictError } from "../../src/contract/errors.js";
import { Subjects } from "../../src/contract/subjects.js";
import type { Event } from "../../src/contract/types.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import { ensureStreams } from "../../src/server.js";
import { event as ev, events as evs } from "../harness/events.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { decodePage } from "../harness/pages.js";
import { storeConformance } from "./conformance.js";
import { storeConformanceV3 } from "./conformance-v3.js";

const subjects = new Subjects("CONF");
let server: NatsServer;
let nc: NatsConnection;
let other: NatsConnection;
let store: JetStreamEventStore;

const open = (conn: NatsConnection, cacheSize = 1000) =>
  new JetStreamEventStore(conn, { subjects, cacheSize, timeoutMs: 5000, atomicBatch: true });

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  other = await connect({ servers: server.url });
  await ensureStreams(
    await jetstreamManager(nc),
    { subjects, replicas: 1, snapshotsKeep: 2, atomicBatch: true },
    pino({ level: "silent" }),
  );
  store = open(nc);
});

afterAll(async () => {
  await nc?.close();
  await other?.close();
  await server?.stop();
});

storeConformance("jetstream", () => store);
storeConformanceV3("jetstream", () => store);

describe("JetStream store", () => {
  it("corrects a stale cache with the expectation check, across processes", async () => {
    const a = `order-${randomUUID()}`;
    const mine = open(nc);
    const theirs = open(other);
    await mine.save(ev(a, 1));
    await theirs.save(ev(a, 2));
    // mine still believes the actor is at version 1
    const err = await mine.save(ev(a, 2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VersionConflictError);
    expect(err).toMatchObject({ currentVersion: 2 });
    const r = await mine.save(ev(a, 3));
    expect(r.version).toBe(3);
    // theirs is stale now and saves on top of the real head, never beside it
    await theirs.save(ev(a, 4));
    expect(decodePage(await mine.events(a, { maxBytes: 1 << 20 })).events.map((e) => e.version)).toEqual([1, 2, 3, 4]);
    expect(mine.counters.save.retries + theirs.counters.save.retries).toBeGreaterThan(0);
  });

  it("answers a retry stored by another process as a duplicate, after JetStream's dedup window is irrelevant", async () => {
    const a = `order-${randomUUID()}`;
    const first = ev(a, 1);
    const original = await open(nc).save(first);
    await store.save(ev(a, 2));
    const retried = await open(other).save(first);
    expect(retried).toEqual({ actorId: a, version: 1, sequence: original.sequence, duplicate: true });
  });

  it("puts each actor on its own subject under the contract's layout", async () => {
    const suffix = randomUUID().slice(0, 8);
    const ids = [`a.b-${suffix}`, `a_b-${suffix}`, `a b-${suffix}`];
    for (const id of ids) await store.save(ev(id, 1));
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info("CONF", { subjects_filter: "CONF.events.>" });
    const found = Object.keys(info.state.subjects ?? {})
      .filter((s) => s.endsWith(suffix))
      .sort();
    expect(found).toEqual(
      [`CONF.events.a~20b.a~20b-${suffix}`, `CONF.events.a~2eb.a~2eb-${suffix}`, `CONF.events.a_b.a_b-${suffix}`].sort(),
    );
  });

  it("refuses to read past a message eventstore did not write, instead of skipping it", async () => {
    const a = `order-${randomUUID()}`;
    await store.save(ev(a, 1));
    await jetstream(nc).publish(subjects.events(a), JSON.stringify({ hello: "world" }));
    const err = await store.events(a, { maxBytes: 1 << 20 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalError);
  });

  it("keeps only the configured number of snapshots per actor", async () => {
    const a = `order-${randomUUID()}`;
    await store.save(ev(a, 5));
    for (let v = 1; v <= 5; v++) await store.saveSnapshot({ actorId: a, version: v, state: { v } });
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(subjects.snapshotsStream, { subjects_filter: subjects.snapshots(a) });
    expect(info.state.subjects?.[subjects.snapshots(a)]).toBe(2);
    expect((await store.getSnapshot(a))?.snapshot.version).toBe(5);
  });
});

/**
 * A connection whose next subject scan (a batch direct get) waits until `before` has run: what a
 * scan finds is then the stream as `before` left it, while the caller decided on what it read earlier.
 */
function holdingNextScan(conn: NatsConnection, before: () => Promise<unknown>): NatsConnection {
  let armed = true;
  return new Proxy(conn, {
    get(target, prop, receiver) {
      if (prop !== "requestMany") return Reflect.get(target, prop, receiver);
      return async (...args: Parameters<NatsConnection["requestMany"]>) => {
        if (armed) {
          armed = false;
          await before();
        }
        return target.requestMany(...args);
      };
    },
  });
}

describe("writes that compare stored versions while their actor is erased", () => {
  // Each write must read the actor's history below its head, and the actor is erased (tombstone,
  // purge) between its head read and that scan: 410, never a 500 from the vanished history.
  const cases: [string, (store: JetStreamEventStore, a: string, stored: Event[]) => Promise<unknown>][] = [
    ["a save retried", (store, _, stored) => store.save(stored[4]!)],
    ["a save below the head", (store, a) => store.save(ev(a, 5))],
    ["an append retried", (store, a, stored) => store.append(a, stored.slice(4, 7))],
    [
      "a transaction retried",
      (store, a, stored) => {
        const b = `other-${randomUUID()}`;
        return store.transact([
          { actorId: a, events: stored.slice(4, 6) },
          { actorId: b, events: [ev(b, 1)] },
        ]);
      },
    ],
  ];

  it.each(cases)("%s answers 410", async (_, write) => {
    const a = `erased-${randomUUID()}`;
    const stored = evs(a, 1, 30);
    await store.append(a, stored);
    const eraser = open(other);
    const racing = new JetStreamEventStore(
      holdingNextScan(nc, () => eraser.erase(a)),
      {
        subjects,
        cacheSize: 1000,
        timeoutMs: 5000,
        atomicBatch: true,
      },
    );
    const err = await write(racing, a, stored).catch((e: unknown) => e);
    racing.close();
    expect(err).toBeInstanceOf(ErasedError);
    expect(await store.versionInfo(a)).toEqual({ actorId: a, version: 30, erased: true });
  });
});
