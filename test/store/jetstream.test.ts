import { randomUUID } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InternalError, VersionConflictError } from "../../src/errors.js";
import { JetStreamEventStore } from "../../src/store/jetstream/store.js";
import { decodePage } from "../../src/store/store.js";
import { ensureStreams } from "../../src/store/streams.js";
import { Subjects } from "../../src/subjects.js";
import { event as ev } from "../harness/events.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { storeConformance } from "../store.conformance.js";

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
