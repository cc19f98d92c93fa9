import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { UnavailableError, VersionConflictError } from "../../src/contract/errors.js";
import { Subjects } from "../../src/contract/subjects.js";
import type { Event } from "../../src/contract/types.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import type { StreamsView } from "../../src/server/jetstream-store/streams-view.js";
import { ensureStreams, eventsStreamConfig } from "../../src/server.js";
import { event as ev, events as evs } from "../harness/events.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { decodePage } from "../harness/pages.js";
import { eventMessage, replaceStreamWhileStalled } from "../harness/stalled.js";

// A write under way in a replica whose event loop stalls while an operator deletes the stream,
// creates it again and refills it. The replica's head of the actor is of the old stream, and its
// sequence happens to be where the actor's history ends in the new one: only knowing that it did
// not run, and looking at the stream before it trusts what it remembers, keeps a lower version
// from being stored after a higher one.

const subjects = new Subjects("STALL");
const settings = { subjects, replicas: 1, snapshotsKeep: 1, atomicBatch: true };
let server: NatsServer;
let nc: NatsConnection;
let store: JetStreamEventStore;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});

beforeEach(async () => {
  store?.close();
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(subjects.stream).catch(() => undefined);
  await ensureStreams(jsm, settings, pino({ level: "silent" }));
  store = new JetStreamEventStore(nc, { subjects, cacheSize: 1000, timeoutMs: 5000, atomicBatch: true });
});

afterAll(async () => {
  store?.close();
  await nc?.close();
  await server?.stop();
});

/**
 * The actor's first event at sequence 3 of the stream, remembered by the store; then the stream is
 * replaced by one whose sequences 1..3 hold the actor's versions 1..3 (`refill`).
 */
async function actorAtSequence3(): Promise<{ actorId: string; refill: Event[] }> {
  const actorId = `stalled-${randomUUID()}`;
  await store.save(ev(`other-${randomUUID()}`, 1));
  await store.save(ev(`other-${randomUUID()}`, 1));
  expect((await store.save(ev(actorId, 1))).sequence).toBe(3);
  return { actorId, refill: evs(actorId, 1, 3) };
}

const replace = (refill: Event[]) =>
  replaceStreamWhileStalled(
    server.url,
    eventsStreamConfig(settings),
    refill.map((e) => eventMessage(subjects.events(e.actorId), e)),
  );

const storedIds = async (actorId: string) => decodePage(await store.events(actorId, { maxBytes: 1 << 20 })).events.map((e) => e.id);

it("does not store a save after its replica stalled while the stream was replaced", async () => {
  const { actorId, refill } = await actorAtSequence3();
  const saving = store.save(ev(actorId, 2)).catch((e: unknown) => e);
  replace(refill);
  const err = await saving;
  expect(err).toBeInstanceOf(VersionConflictError);
  expect(err).toMatchObject({ currentVersion: 3 });
  expect(await storedIds(actorId)).toEqual(refill.map((e) => e.id));
});

it("does not store an append after its replica stalled while the stream was replaced", async () => {
  const { actorId, refill } = await actorAtSequence3();
  const appending = store.append(actorId, evs(actorId, 2, 2)).catch((e: unknown) => e);
  replace(refill);
  const err = await appending;
  expect(err).toBeInstanceOf(VersionConflictError);
  expect(err).toMatchObject({ currentVersion: 3 });
  expect(await storedIds(actorId)).toEqual(refill.map((e) => e.id));
});

it("stores a save that still goes after the head of the new stream", async () => {
  const { actorId, refill } = await actorAtSequence3();
  const next = ev(actorId, 4);
  const saving = store.save(next);
  replace(refill);
  expect(await saving).toMatchObject({ version: 4, sequence: 4, duplicate: false });
  expect(await storedIds(actorId)).toEqual([...refill, next].map((e) => e.id));
});

it("does not leave a tombstone with the old stream's version after its replica stalled between reading the head and writing it", async () => {
  const { actorId, refill } = await actorAtSequence3();
  // The stall comes right after the erase has read the actor's head (version 1 at sequence 3 of
  // the old stream), before it publishes the tombstone with that head's expectation.
  const stall = stallAfterHead(actorId, refill);
  const first = await store.erase(actorId).catch((e: unknown) => e);
  expect(stall.done).toBe(true);
  // Refused (the stream it learned from is gone), or an erase of the actor as the new stream holds it.
  if (first instanceof Error) expect(first).toBeInstanceOf(UnavailableError);
  else expect(first).toMatchObject({ version: 3 });
  expect(await store.erase(actorId)).toMatchObject({ version: 3 });
  expect(await store.version(actorId)).toBe(3);
});

it("does not store a snapshot ahead of the actor after its replica stalled between reading the head and writing it", async () => {
  const actorId = `stalled-${randomUUID()}`;
  await store.append(actorId, evs(actorId, 1, 3));
  const stall = stallAfterHead(actorId, [ev(actorId, 1)]);
  const first = await store.saveSnapshot({ actorId, version: 3, state: { n: 3 } }).catch((e: unknown) => e);
  expect(stall.done).toBe(true);
  // Refused: the stream it learned version 3 from is gone, and the new one holds version 1.
  expect(first).toBeInstanceOf(Error);
  await expect(store.saveSnapshot({ actorId, version: 3, state: { n: 3 } })).rejects.toBeInstanceOf(VersionConflictError);
  expect(await store.getSnapshot(actorId)).toBeUndefined();
});

/** Replaces the stream while this process stalls, right after the store has first read the actor's head. */
function stallAfterHead(actorId: string, refill: Event[]): { done: boolean } {
  const replica = (store as unknown as { view: StreamsView }).view;
  const freshHead = replica.freshHead.bind(replica);
  const stall = { done: false };
  replica.freshHead = async (id, generation) => {
    const head = await freshHead(id, generation);
    if (!stall.done && id === actorId) {
      stall.done = true;
      replace(refill);
    }
    return head;
  };
  return stall;
}
