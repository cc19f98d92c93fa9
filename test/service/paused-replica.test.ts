import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { expect, it } from "vitest";
import { Subjects } from "../../src/contract/subjects.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import { eventsStreamConfig } from "../../src/server.js";
import { event as ev, events as evs } from "../harness/events.js";
import { type ServiceFixture, useService } from "../harness/fixture.js";
import { readAll, request } from "../harness/requests.js";

// A save delivered to a replica that is then stopped (SIGSTOP) while an operator deletes the
// stream, creates it again and writers refill it. When the replica runs again, the save is the
// first thing it reads, before the announcements of the new stream: its head of the actor is of
// the old stream, at the sequence where the actor's history ends in the new one.

const subjects = new Subjects("EVENTS");

async function refusesAfterPause(f: ServiceFixture): Promise<void> {
  const actorId = `paused-${randomUUID()}`;
  const save = (body: unknown) => request(f.nc, "eventstore.save", body, 30_000);
  // the service starts on an empty stream: the actor's first event at sequence 3, remembered by the service
  expect((await save(ev(`other-${randomUUID()}`, 1))).code).toBe(0);
  expect((await save(ev(`other-${randomUUID()}`, 1))).code).toBe(0);
  expect((await save(ev(actorId, 1))).body).toMatchObject({ sequence: 3 });

  const service = f.services[0]!.process;
  service.kill("SIGSTOP");
  const stopped = Date.now();
  try {
    const saving = save(ev(actorId, 2));
    await f.nc.flush();
    const jsm = await jetstreamManager(f.nc);
    await jsm.streams.delete(subjects.stream);
    await jsm.streams.add(eventsStreamConfig({ subjects, replicas: 1, snapshotsKeep: 1, atomicBatch: true }));
    const writer = new JetStreamEventStore(f.nc, { subjects, cacheSize: 10, timeoutMs: 5000, atomicBatch: true });
    const refill = evs(actorId, 1, 3);
    expect((await writer.append(actorId, refill)).sequences).toEqual([1, 2, 3]);
    writer.close();
    // a pause a replica can tell from its running: longer than the gap it allows (250 ms)
    await new Promise((r) => setTimeout(r, Math.max(0, 600 - (Date.now() - stopped))));
    service.kill("SIGCONT");
    const reply = await saving;
    expect(reply).toMatchObject({ code: 409, body: { error: { currentVersion: 3 } } });
    expect((await readAll<{ id: string }>(f.nc, actorId)).map((e) => e.id)).toEqual(refill.map((e) => e.id));
    expect((await request(f.nc, "eventstore.version", { actorId })).body).toMatchObject({ version: 3 });
  } finally {
    service.kill("SIGCONT");
  }
}

// The announcements of the new stream wait on the connection right behind the save: the replica
// reads them together with it, before the save sends anything (test/store/stale-heads.test.ts has
// the stall in which it reads nothing before the write goes on).
const f = useService();

it("refuses a save it was given before a pause in which the stream was replaced", () => refusesAfterPause(f));
