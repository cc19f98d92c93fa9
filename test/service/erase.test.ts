import { randomUUID } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { expect, it } from "vitest";
import { event } from "../harness/events.js";
import { useService } from "../harness/fixture.js";
import { request } from "../harness/requests.js";
import { startServiceProcess } from "../harness/service-process.js";
import { readStoredEvents } from "../harness/stored-events.js";

// erase through two service processes: nothing of the actor is left but its tombstone, every
// replica (and one started afterwards) answers as erased, and no save lands after the tombstone.

const f = useService({ replicas: 2 });
const ev = (actorId: string, version: number) => event(actorId, version, { eventType: "Named", data: { name: "Ada" } });

it("erases an actor of 1,000 events and 3 snapshots, leaving other actors untouched", async () => {
  const actorId = `person-${randomUUID()}`;
  const other = `person-${randomUUID()}`;
  for (let from = 1; from <= 1000; from += 500) {
    const events = Array.from({ length: 500 }, (_, i) => ev(actorId, from + i));
    expect((await request(f.nc, "eventstore.append", { actorId, events })).code).toBe(0);
  }
  expect((await request(f.nc, "eventstore.save", ev(other, 1))).code).toBe(0);
  for (const version of [998, 999, 1000]) {
    expect((await request(f.nc, "eventstore.snapshot.save", { actorId, version, state: { version } })).code).toBe(0);
  }
  const before = (await readStoredEvents(f.nc, "EVENTS")).filter((m) => m.actorId === other);
  const erased = await request(f.nc, "eventstore.erase", { actorId, reason: "customer request" });
  expect(erased).toMatchObject({ code: 0, body: { actorId, version: 1000, erasedEvents: 1000, erasedSnapshots: 3 } });

  const jsm = await jetstreamManager(f.nc);
  const left = await jsm.streams.info("EVENTS", { subjects_filter: `EVENTS.events.person.${actorId}` });
  expect(left.state.subjects).toEqual({ [`EVENTS.events.person.${actorId}`]: 1 });
  const tombstone = await jsm.streams.getMessage("EVENTS", { last_by_subj: `EVENTS.events.person.${actorId}` });
  expect(tombstone!.header.get("Eventstore-Erased")).toBe(erased.body.erasedAt);
  expect(tombstone!.json()).toEqual({ actorId, version: 1000, erasedAt: erased.body.erasedAt, reason: "customer request" });
  const snapshots = await jsm.streams.info("EVENTS_SNAPSHOTS", { subjects_filter: `EVENTS.snapshots.person.${actorId}` });
  expect(snapshots.state.subjects ?? {}).toEqual({});
  expect((await readStoredEvents(f.nc, "EVENTS").catch(() => [])).filter((m) => m.actorId === other)).toEqual(before);

  const late = await startServiceProcess(f.server.url);
  try {
    for (let i = 0; i < 6; i++) {
      expect((await request(f.nc, "eventstore.version", { actorId })).body).toEqual({ actorId, version: 1000, erased: true });
      expect((await request(f.nc, "eventstore.events", { actorId })).body).toEqual({ actorId, events: [], hasMore: false, erased: true });
      expect((await request(f.nc, "eventstore.snapshot.get", { actorId })).code).toBe(404);
      const save = await request(f.nc, "eventstore.save", ev(actorId, 1001));
      expect(save).toMatchObject({ code: 410, body: { error: { actorId, erasedAt: erased.body.erasedAt } } });
    }
    const again = await request(f.nc, "eventstore.erase", { actorId });
    expect(again.body).toEqual({ ...erased.body, erasedEvents: 0, erasedSnapshots: 0 });
  } finally {
    await late.stop();
  }
}, 60_000);

it("finishes an erase whose process died between the tombstone and the purge", async () => {
  const actorId = `person-${randomUUID()}`;
  for (let v = 1; v <= 3; v++) expect((await request(f.nc, "eventstore.save", ev(actorId, v))).code).toBe(0);
  expect((await request(f.nc, "eventstore.snapshot.save", { actorId, version: 3, state: {} })).code).toBe(0);
  // What an erase leaves when it is killed right after its first step: the tombstone, nothing purged.
  const subject = `EVENTS.events.person.${actorId}`;
  const erasedAt = new Date().toISOString();
  const h = headers();
  h.set("Eventstore-Version", "3");
  h.set("Eventstore-Erased", erasedAt);
  await jetstream(f.nc).publish(subject, JSON.stringify({ actorId, version: 3, erasedAt }), { headers: h });
  expect((await request(f.nc, "eventstore.version", { actorId })).body).toEqual({ actorId, version: 3, erased: true });
  expect((await request(f.nc, "eventstore.save", ev(actorId, 4))).code).toBe(410);
  const finished = await request(f.nc, "eventstore.erase", { actorId });
  expect(finished.body).toEqual({ actorId, version: 3, erasedEvents: 3, erasedSnapshots: 1, erasedAt });
  const jsm = await jetstreamManager(f.nc);
  expect((await jsm.streams.info("EVENTS", { subjects_filter: subject })).state.subjects).toEqual({ [subject]: 1 });
});

it("lets no save land after the tombstone while writers race the erase", async () => {
  for (let trial = 0; trial < 10; trial++) {
    const actorId = `person-${randomUUID()}`;
    expect((await request(f.nc, "eventstore.save", ev(actorId, 1))).code).toBe(0);
    let stop = false;
    const writer = async () => {
      const acked: number[] = [];
      for (let v = 2; !stop && v < 200; v++) {
        const r = await request(f.nc, "eventstore.save", ev(actorId, v));
        if (r.code === 410) return acked;
        if (r.code === 0) acked.push(r.body.sequence as number);
      }
      return acked;
    };
    const writers = [writer(), writer(), writer()];
    await new Promise((r) => setTimeout(r, 5 + trial));
    const erased = await request(f.nc, "eventstore.erase", { actorId });
    stop = true;
    const acked = (await Promise.all(writers)).flat();
    expect(erased.code).toBe(0);
    const jsm = await jetstreamManager(f.nc);
    const stone = await jsm.streams.getMessage("EVENTS", { last_by_subj: `EVENTS.events.person.${actorId}` });
    for (const seq of acked) expect(seq).toBeLessThan(stone!.seq);
    const left = await jsm.streams.info("EVENTS", { subjects_filter: `EVENTS.events.person.${actorId}` });
    expect(left.state.subjects).toEqual({ [`EVENTS.events.person.${actorId}`]: 1 });
  }
}, 60_000);
