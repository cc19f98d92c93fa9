import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { Subjects } from "../../src/contract/subjects.js";
import type { Event } from "../../src/contract/types.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import { ensureStreams, eventsStreamConfig } from "../../src/server.js";
import { event } from "../harness/events.js";
import { useService } from "../harness/fixture.js";
import { readAll, request } from "../harness/requests.js";

// What a caller of the service sees when the stream changes under it, when ids are unusual,
// and when events are large or hold unusual numbers: issue 10's findings, through the service.

const subjects = new Subjects("EVENTS");
const settings = { subjects, replicas: 1, snapshotsKeep: 3, atomicBatch: true };
const silent = pino({ level: "silent" });
const ev = (actorId: string, version: number, id?: string) => event(actorId, version, id === undefined ? {} : { id });
const versionsOf = async (nc: NatsConnection, actorId: string) => (await readAll<{ version: number }>(nc, actorId)).map((e) => e.version);
const save = (nc: NatsConnection, e: Event) => request(nc, "eventstore.save", e);

/** Another replica, in this process, writing to the stream as it is now. */
async function otherReplica(url: string): Promise<{ store: JetStreamEventStore; close: () => Promise<void> }> {
  const conn = await connect({ servers: url });
  await ensureStreams(await jetstreamManager(conn), settings, silent);
  const store = new JetStreamEventStore(conn, { subjects, cacheSize: 100, timeoutMs: 5000, atomicBatch: true });
  return {
    store,
    close: async () => {
      store.close();
      await conn.close();
    },
  };
}

/** The history of issue 10, finding 1, written into a new stream by another replica. */
async function writeNewHistory(store: JetStreamEventStore, x: string, z: string): Promise<void> {
  await store.save(ev(x, 1));
  await store.save(ev(x, 2));
  await store.save(ev(z, 5));
  await store.save(ev(x, 3));
}

/** What the first service must answer about that new history, whatever it remembers. */
async function expectNewHistory(nc: NatsConnection, x: string, z: string): Promise<void> {
  expect(await versionsOf(nc, x)).toEqual([1, 2, 3]);
  const after1 = await request(nc, "eventstore.events", { actorId: x, fromVersion: 1 });
  expect((after1.body.events as Event[]).map((e) => e.version)).toEqual([2, 3]);
  const stale = await save(nc, ev(z, 2));
  expect(stale.code).toBe(409);
  expect(stale.body.error).toMatchObject({ currentVersion: 5 });
  expect((await request(nc, "eventstore.version", { actorId: z })).body.version).toBe(5);
  expect(await versionsOf(nc, z)).toEqual([5]);
  expect((await save(nc, ev(z, 6))).code).toBe(0);
  expect(await versionsOf(nc, z)).toEqual([5, 6]);
}

/** The first service learns x and z at sequences of the old stream, and reads them (index warm). */
async function learnOldHistory(nc: NatsConnection, x: string, z: string): Promise<void> {
  expect((await save(nc, ev(`pad-${randomUUID()}`, 1))).code).toBe(0);
  expect((await save(nc, ev(x, 1))).code).toBe(0);
  expect((await save(nc, ev(z, 1))).code).toBe(0);
  expect(await versionsOf(nc, x)).toEqual([1]);
  expect(await versionsOf(nc, z)).toEqual([1]);
}

describe("a stream replaced under a running service", () => {
  const f = useService();

  it("answers from the new stream after it was deleted and created again", async () => {
    const x = `order-${randomUUID()}`;
    const z = `order-${randomUUID()}`;
    await learnOldHistory(f.nc, x, z);
    const jsm = await jetstreamManager(f.nc);
    await jsm.streams.delete(subjects.stream);
    await jsm.streams.add(eventsStreamConfig(settings));
    const other = await otherReplica(f.server.url);
    await writeNewHistory(other.store, x, z);
    await other.close();
    await expectNewHistory(f.nc, x, z);
  });

  it("answers from what is left after a purge, and stores after it", async () => {
    const x = `order-${randomUUID()}`;
    for (let v = 1; v <= 3; v++) expect((await save(f.nc, ev(x, v))).code).toBe(0);
    expect(await versionsOf(f.nc, x)).toEqual([1, 2, 3]);
    const jsm = await jetstreamManager(f.nc);
    await jsm.streams.purge(subjects.stream);
    expect(await versionsOf(f.nc, x)).toEqual([]);
    expect((await request(f.nc, "eventstore.version", { actorId: x })).body.version).toBe(0);
    const other = await otherReplica(f.server.url);
    await other.store.save(ev(x, 1));
    await other.close();
    expect(await versionsOf(f.nc, x)).toEqual([1]);
    expect((await save(f.nc, ev(x, 2))).code).toBe(0);
    expect(await versionsOf(f.nc, x)).toEqual([1, 2]);
  });
});

describe("a nats-server restarted on an empty store under a running service", () => {
  const f = useService();

  it("answers from the new stream once another replica has created it", async () => {
    const x = `order-${randomUUID()}`;
    const z = `order-${randomUUID()}`;
    await learnOldHistory(f.nc, x, z);
    await f.server.halt();
    rmSync(join(f.server.dir, "js"), { recursive: true, force: true });
    f.server = await f.server.restart();
    const other = await otherReplica(f.server.url);
    await writeNewHistory(other.store, x, z);
    await other.close();
    // The service reconnects on its own; wait until it answers again.
    for (let i = 0; i < 200; i++) {
      const r = await request(f.nc, "eventstore.version", { actorId: x }).catch(() => undefined);
      if (r?.code === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await expectNewHistory(f.nc, x, z);
  });
});

describe("event ids", () => {
  const f = useService();

  it("answers the retry of an id with white space as a duplicate (save and append)", async () => {
    for (const id of [" sp ", "nb\u00a0", "\u2028lead"]) {
      const e = ev(`ws-${randomUUID()}`, 1, id);
      const first = await save(f.nc, e);
      expect(first.code).toBe(0);
      expect(await save(f.nc, e)).toMatchObject({ code: 0, body: { duplicate: true, sequence: first.body.sequence } });
    }
    const actorId = `ws-${randomUUID()}`;
    const batch = { actorId, events: [ev(actorId, 1, "ap1\u2028"), ev(actorId, 2, " ap2")] };
    const stored = await request(f.nc, "eventstore.append", batch);
    expect(stored.code).toBe(0);
    expect(await request(f.nc, "eventstore.append", batch)).toMatchObject({ code: 0, body: { ...stored.body, duplicate: true } });
    const other = ev(`ws-${randomUUID()}`, 1, "sp");
    expect(await save(f.nc, other)).toMatchObject({ code: 0, body: { duplicate: false } });
  });

  it("stores an id another actor or version used, inside JetStream's duplicate window", async () => {
    const x = `order-${randomUUID()}`;
    const y = `order-${randomUUID()}`;
    const id = randomUUID();
    expect((await save(f.nc, ev(x, 1, id))).code).toBe(0);
    expect(await save(f.nc, ev(y, 1, id))).toMatchObject({ code: 0, body: { duplicate: false } });
    expect((await save(f.nc, ev(x, 2, "v2"))).code).toBe(0);
    expect(await save(f.nc, ev(x, 3, "v2"))).toMatchObject({ code: 0, body: { duplicate: false } });
    expect(await versionsOf(f.nc, x)).toEqual([1, 2, 3]);
  });

  it("stores again an event whose message was deleted, inside the window (save and append)", async () => {
    const jsm = await jetstreamManager(f.nc);
    const x = `order-${randomUUID()}`;
    const e = ev(x, 1);
    const first = await save(f.nc, e);
    await jsm.streams.deleteMessage(subjects.stream, first.body.sequence as number);
    const again = await save(f.nc, e);
    expect(again).toMatchObject({ code: 0, body: { duplicate: false } });
    expect(again.body.sequence).toBeGreaterThan(first.body.sequence as number);
    expect(await save(f.nc, e)).toMatchObject({ code: 0, body: { duplicate: true, sequence: again.body.sequence } });

    const y = `order-${randomUUID()}`;
    const batch = { actorId: y, events: [ev(y, 1), ev(y, 2)] };
    const stored = await request(f.nc, "eventstore.append", batch);
    await jsm.streams.purge(subjects.stream, { filter: subjects.events(y) });
    const restored = await request(f.nc, "eventstore.append", batch);
    expect(restored).toMatchObject({ code: 0, body: { duplicate: false } });
    expect(await versionsOf(f.nc, y)).toEqual([1, 2]);
    expect(stored.code).toBe(0);
  });
});

describe("what is stored is what was sent", () => {
  const f = useService();

  it("stores numbers as written, however long they print, and reads them back", async () => {
    const actorId = `num-${randomUUID()}`;
    const items = Array.from({ length: 150_000 }, () => "1e20").join(",");
    const text = `{"id":"n1","eventType":"T","actorId":"${actorId}","version":1,"data":{"a":[${items}],"one":1.0}}`;
    expect(text.length).toBeGreaterThan(700_000);
    expect((await request(f.nc, "eventstore.save", text)).code).toBe(0);
    const read = await f.nc.request("eventstore.events", JSON.stringify({ actorId, limit: 1 }), { timeout: 10_000 });
    const body = new TextDecoder().decode(read.data);
    expect(body).toContain(`"data":{"a":[${items}],"one":1.0}`);
    const page = JSON.parse(body) as { events: Event[]; hasMore: boolean };
    expect(page.hasMore).toBe(false);
    expect((page.events[0]!.data.a as number[]).length).toBe(150_000);

    const snapshot = `{"actorId":"${actorId}","version":1,"state":{"a":[${items}]}}`;
    expect((await request(f.nc, "eventstore.snapshot.save", snapshot)).code).toBe(0);
    const got = await f.nc.request("eventstore.snapshot.get", JSON.stringify({ actorId }), { timeout: 10_000 });
    expect(new TextDecoder().decode(got.data)).toContain(`"state":{"a":[${items}]}`);
  });

  it("refuses a number that overflows to infinity, naming the field, and stores nothing", async () => {
    const actorId = `num-${randomUUID()}`;
    const text = `{"id":"n2","eventType":"T","actorId":"${actorId}","version":1,"data":{"x":{"y":1e400}}}`;
    const r = await request(f.nc, "eventstore.save", text);
    expect(r.code).toBe(400);
    expect(r.body.error).toMatchObject({ errors: [{ path: "/data/x/y" }] });
    expect((await request(f.nc, "eventstore.version", { actorId })).body.version).toBe(0);
  });

  it("answers the snapshot with the highest version", async () => {
    const actorId = `snap-${randomUUID()}`;
    expect((await save(f.nc, ev(actorId, 10))).code).toBe(0);
    for (const version of [10, 5, 6, 7]) {
      expect((await request(f.nc, "eventstore.snapshot.save", { actorId, version, state: { version } })).code).toBe(0);
    }
    const got = await request(f.nc, "eventstore.snapshot.get", { actorId });
    expect(got.body).toMatchObject({ version: 10, state: { version: 10 } });
  });
});
