import { randomUUID } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import { expect, it } from "vitest";
import { Subjects } from "../../src/contract/subjects.js";
import type { Event } from "../../src/contract/types.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import { useService } from "../harness/fixture.js";
import { request } from "../harness/requests.js";

// An actor with more events than the service used to index per actor (100,000): reads must
// never lose the oldest, nor skip events while a write trims or extends the index.

const f = useService();
const actorId = `big-${randomUUID()}`;
const TOTAL = 101_000;
const ev = (version: number): Event => ({ id: `e${version}`, eventType: "T", actorId, version, data: {} });

it("writes the history (101 appends of 1000)", async () => {
  const conn = await connect({ servers: f.server.url });
  const store = new JetStreamEventStore(conn, { subjects: new Subjects("EVENTS"), cacheSize: 10, timeoutMs: 10_000, atomicBatch: true });
  for (let from = 1; from <= TOTAL; from += 1000) {
    await store.append(
      actorId,
      Array.from({ length: 1000 }, (_, i) => ev(from + i)),
    );
  }
  store.close();
  await conn.close();
  expect((await request(f.nc, "eventstore.version", { actorId })).body.version).toBe(TOTAL);
}, 120_000);

it("reads from the first event, with limit and across every page", async () => {
  // The first read of a cold replica scans the whole history: give it time on a busy machine.
  const first = await request(f.nc, "eventstore.events", { actorId, limit: 5 }, 60_000);
  expect((first.body.events as Event[]).map((e) => e.version)).toEqual([1, 2, 3, 4, 5]);
  expect(first.body.hasMore).toBe(true);
  const all: number[] = [];
  for (let fromVersion = 0, more = true; more; fromVersion = all.at(-1)!) {
    const page = await request(f.nc, "eventstore.events", { actorId, fromVersion }, 60_000);
    all.push(...(page.body.events as Event[]).map((e) => e.version));
    more = page.body.hasMore as boolean;
  }
  expect(all.length).toBe(TOTAL);
  expect(all.every((v, i) => v === i + 1)).toBe(true);
}, 60_000);

it("answers a retry of an early event as a duplicate", async () => {
  const r = await request(f.nc, "eventstore.save", ev(5), 60_000);
  expect(r).toMatchObject({ code: 0, body: { duplicate: true, version: 5 } });
});

it("returns pages without gaps while an append on the same replica extends the index", async () => {
  let head = TOTAL;
  for (let round = 0; round < 8; round++) {
    const fromVersion = head - 6000;
    const reads = Array.from({ length: 3 }, () => request(f.nc, "eventstore.events", { actorId, fromVersion, limit: 5000 }, 60_000));
    const events = Array.from({ length: 300 }, (_, i) => ev(head + 1 + i));
    const append = request(f.nc, "eventstore.append", { actorId, events }, 60_000);
    const [appended, ...pages] = await Promise.all([append, ...reads]);
    expect(appended.code).toBe(0);
    head += 300;
    for (const page of pages) {
      const versions = (page.body.events as Event[]).map((e) => e.version);
      expect(versions.length).toBe(5000);
      expect(versions.every((v, i) => v === fromVersion + 1 + i)).toBe(true);
    }
  }
}, 60_000);
