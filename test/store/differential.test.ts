import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { EventStoreError } from "../../src/contract/errors.js";
import { Headers, Subjects } from "../../src/contract/subjects.js";
import type { Event } from "../../src/contract/types.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import type { EventStore } from "../../src/server/store/event-store.js";
import { MemoryEventStore } from "../../src/server/store/memory.js";
import { MemoryStream } from "../../src/server/store/memory-stream.js";
import { ensureStreams, eventsStreamConfig } from "../../src/server.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { decodePage } from "../harness/pages.js";
import { eventMessage, replaceStreamWhileStalled, type StreamMessage } from "../harness/stalled.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// The same random operations, deletions, purges and stream recreations included, against the
// memory and the JetStream store: every answer must be the same, sequences included. A stream is
// also replaced while a save is under way and the JetStream store's process stalls: its heads are
// of the old stream then, and it must answer as the memory store does on the new one.

const subjects = new Subjects("DIFF");
const settings = { subjects, replicas: 1, snapshotsKeep: 3, atomicBatch: true };
let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

/** mulberry32: a small seeded generator, so that a failing run can be repeated from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Outcome = { ok: unknown } | { error: { code: number; currentVersion?: number } };

async function outcome(run: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: await run() };
  } catch (err) {
    if (!(err instanceof EventStoreError)) throw err;
    const currentVersion = (err as { currentVersion?: number }).currentVersion;
    return { error: { code: err.code, ...(currentVersion === undefined ? {} : { currentVersion }) } };
  }
}

it.each([11, 22, 33, 44, 55])("agrees with the memory store over 150 random operations (seed %i)", async (seed) => {
  await jsm.streams.delete(subjects.stream).catch(() => undefined);
  await jsm.streams.delete(subjects.snapshotsStream).catch(() => undefined);
  await ensureStreams(jsm, settings, pino({ level: "silent" }));
  const js = new JetStreamEventStore(nc, { subjects, cacheSize: 100, timeoutMs: 5000, atomicBatch: true, indexSize: 200 });
  const memory = new MemoryEventStore({ snapshotsKeep: 3, subjects });
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const actors = [`acct-${seed}-a`, `acct-${seed}-b`, `order-${seed}-c`];
  const sent: Event[] = [];
  let n = 0;
  const event = (actorId: string, version: number): Event => ({
    id: rnd() < 0.2 && sent.length > 0 ? pick(sent).id : `id-${seed}-${n++}`,
    eventType: "T",
    actorId,
    version,
    data: { n },
    timestamp: "2026-01-01T00:00:00.000Z",
  });

  const operations: [string, number, (store: EventStore) => Promise<unknown>][] = [];
  for (let i = 0; i < 150; i++) {
    const actorId = pick(actors);
    const head = await memory.version(actorId);
    const roll = rnd();
    if (roll < 0.3) {
      const e = rnd() < 0.25 && sent.length > 0 ? pick(sent) : event(actorId, Math.max(1, head + pick([1, 1, 2, 0, -1])));
      sent.push(e);
      operations.push(["save", i, (s) => s.save(e)]);
    } else if (roll < 0.45) {
      const from = Math.max(1, head + pick([1, 1, 0]));
      const events = Array.from({ length: pick([1, 2, 3]) }, (_, k) => event(actorId, from + k));
      if (new Set(events.map((e) => e.id)).size < events.length) continue;
      sent.push(...events);
      operations.push(["append", i, (s) => s.append(actorId, events)]);
    } else if (roll < 0.65) {
      const fromVersion = Math.floor(rnd() * (head + 1));
      const limit = pick([undefined, 1, 2, 5]);
      const maxBytes = pick([1 << 20, 400]);
      operations.push(["events", i, async (s) => decodePage(await s.events(actorId, { fromVersion, limit, maxBytes }))]);
    } else if (roll < 0.72) {
      operations.push(["version", i, (s) => s.version(actorId)]);
    } else if (roll < 0.8) {
      const version = 1 + Math.floor(rnd() * (head + 1));
      const snapshot = { actorId, version, state: { i }, timestamp: "2026-01-01T00:00:00.000Z" };
      operations.push(["saveSnapshot", i, (s) => s.saveSnapshot(snapshot)]);
    } else if (roll < 0.86) {
      operations.push(["getSnapshot", i, async (s) => (await s.getSnapshot(actorId))?.snapshot]);
    } else if (roll < 0.93) {
      const held = memory.streams.events.subject(subjects.events(actorId));
      if (held.length === 0) continue;
      const seq = pick(held).seq;
      memory.streams.events.delete(seq);
      await jsm.streams.deleteMessage(subjects.stream, seq);
      continue;
    } else if (roll < 0.96) {
      const filter = rnd() < 0.5 ? subjects.events(actorId) : undefined;
      memory.streams.events.purge(filter);
      await jsm.streams.purge(subjects.stream, filter ? { filter } : undefined);
      continue;
    } else if (roll < 0.985) {
      // The new stream holds the actor's history and one event more, which ends where the old one did.
      const held = memory.streams.events.subject(subjects.events(actorId));
      const last = held.at(-1);
      if (!last || last.seq <= held.length) continue;
      const filler = { subject: subjects.events(`filler-${seed}`), headers: { [Headers.version]: "1" }, data: "{}" };
      const refill: StreamMessage[] = [
        ...Array.from({ length: last.seq - held.length - 1 }, () => filler),
        ...held.map((m) => ({ subject: m.subject, headers: { [Headers.version]: String(m.version) }, data: decoder.decode(m.json) })),
        eventMessage(subjects.events(actorId), event(actorId, head + 1)),
      ];
      const e = event(actorId, head + 1);
      const saving = outcome(() => js.save(e));
      replaceStreamWhileStalled(server.url, eventsStreamConfig(settings), refill);
      memory.streams.events = new MemoryStream();
      for (const m of refill) memory.streams.events.publish(m.subject, Number(m.headers[Headers.version]), encoder.encode(m.data));
      const actual = await saving;
      const expected = await outcome(() => memory.save(e));
      expect({ op: i, name: "save while stalled", actual }).toEqual({ op: i, name: "save while stalled", actual: expected });
      continue;
    } else {
      memory.streams.events = new MemoryStream();
      await jsm.streams.delete(subjects.stream);
      await jsm.streams.add(eventsStreamConfig(settings));
      // JetStream announces the new stream; give the advisory its moment to arrive.
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    const [name, index, run] = operations.at(-1)!;
    const expected = await outcome(() => run(memory));
    const actual = await outcome(() => run(js));
    expect({ op: index, name, actual }).toEqual({ op: index, name, actual: expected });
  }
  js.close();
});
