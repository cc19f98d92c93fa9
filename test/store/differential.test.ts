import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ConditionFailedError, EventStoreError } from "../../src/contract/errors.js";
import { Headers, Subjects } from "../../src/contract/subjects.js";
import type { Event, Query, QueryItem, ReadResponse } from "../../src/contract/types.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import type { EventStore } from "../../src/server/store/event-store.js";
import { MemoryEventStore } from "../../src/server/store/memory.js";
import { MemoryStream } from "../../src/server/store/memory-stream.js";
import { ensureStreams, eventsStreamConfig } from "../../src/server.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { decodeLogPage, decodePage } from "../harness/pages.js";
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

type Outcome = { ok: unknown } | { error: { code: number; currentVersion?: number; condition?: string } };

/**
 * What each backend answers, in terms both share. Positions differ between backends (the JetStream
 * store adds index messages that take sequences), so a sequence is named by the write that stored
 * it (`op.event`), as each backend recorded it from its own replies; `head` is the backend's own.
 */
class Positions {
  private readonly keys = new Map<number, string>();
  private readonly seqs = new Map<string, number>();

  record(seq: number, key: string): void {
    this.keys.set(seq, key);
    this.seqs.set(key, seq);
  }

  key(seq: number): string {
    return this.keys.get(seq) ?? `unknown:${seq}`;
  }

  seq(key: string): number | undefined {
    return this.seqs.get(key);
  }

  /** A new stream: sequences start again. */
  clear(): void {
    this.keys.clear();
    this.seqs.clear();
  }
}

async function outcome(run: () => Promise<unknown>, positions: Positions): Promise<Outcome> {
  try {
    return { ok: await run() };
  } catch (err) {
    if (!(err instanceof EventStoreError)) throw err;
    const currentVersion = (err as { currentVersion?: number }).currentVersion;
    const condition = err instanceof ConditionFailedError ? { condition: positions.key(err.position) } : {};
    return { error: { code: err.code, ...(currentVersion === undefined ? {} : { currentVersion }), ...condition } };
  }
}

/** The whole log as the backend holds it now, every page. */
async function wholeLog(store: EventStore): Promise<ReadResponse["events"]> {
  const all: ReadResponse["events"] = [];
  for (let from = 0; ; ) {
    const page = decodeLogPage(await store.read({ from, maxBytes: 1 << 20 }));
    all.push(...page.events);
    if (!page.hasMore) return all;
    from = page.events.at(-1)!.position + 1;
  }
}

it.each([11, 22, 33, 44, 55])("agrees with the memory store over 150 random operations (seed %i)", async (seed) => {
  await jsm.streams.delete(subjects.stream).catch(() => undefined);
  await jsm.streams.delete(subjects.snapshotsStream).catch(() => undefined);
  await ensureStreams(jsm, settings, pino({ level: "silent" }));
  const js = new JetStreamEventStore(nc, { subjects, cacheSize: 100, timeoutMs: 5000, atomicBatch: true, indexSize: 200 });
  const memory = new MemoryEventStore({ snapshotsKeep: 3, subjects });
  const positions = new Map<EventStore, Positions>([
    [memory, new Positions()],
    [js, new Positions()],
  ]);
  const at = (store: EventStore) => positions.get(store)!;
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const some = <T>(xs: readonly T[], most: number): T[] => [
    ...new Set(Array.from({ length: 1 + Math.floor(rnd() * most) }, () => pick(xs))),
  ];
  const actors = [`acct-${seed}-a`, `acct-${seed}-b`, `order-${seed}-c`];
  const types = ["T", "U", "V"];
  const tags = [`t1-${seed}`, `t2-${seed}`, `course:${seed}`, `student:${seed}`];
  const sent: Event[] = [];
  let n = 0;
  const event = (actorId: string, version: number): Event => {
    const tagged = rnd() < 0.7 ? { tags: some(tags, 3) } : {};
    return {
      id: rnd() < 0.2 && sent.length > 0 ? pick(sent).id : `id-${seed}-${n++}`,
      eventType: pick(types),
      actorId,
      version,
      data: { n },
      timestamp: "2026-01-01T00:00:00.000Z",
      ...tagged,
    };
  };
  const item = (): QueryItem => {
    const roll = rnd();
    if (roll < 0.3) return { types: some(types, 2) } as QueryItem;
    if (roll < 0.7) return { tags: some(tags, 2) } as QueryItem;
    return { types: some(types, 2), tags: some(tags, 2) } as QueryItem;
  };
  const query = (): Query => ({ items: Array.from({ length: pick([1, 1, 2, 3]) }, item) }) as Query;
  /** A write's reply with each sequence named by the write that stored it, recorded when new. */
  const named = (store: EventStore, op: number, reply: { sequences: number[][]; duplicate: boolean }) => {
    let j = 0;
    return reply.sequences.map((seqs) =>
      seqs.map((seq) => {
        if (!reply.duplicate) at(store).record(seq, `${op}.${j++}`);
        return at(store).key(seq);
      }),
    );
  };
  /**
   * A position of the backend's own log chosen the same way on both: before the k-th event of the
   * whole log (`shift` -1), at it (0) or just after it (+1); past the end: the head, or with `beyond`
   * the position after it (the head may be an index message's: from it, forwards, differs).
   */
  const position = async (store: EventStore, k: number, shift: number, beyond = false) => {
    const log = await wholeLog(store);
    if (k < log.length) return Math.max(0, log[k]!.position + shift);
    return (await store.read({ maxBytes: 1 << 20, limit: 1, backwards: true })).head + (beyond ? 1 : 0);
  };

  const operations: [string, number, (store: EventStore) => Promise<unknown>][] = [];
  for (let i = 0; i < 150; i++) {
    const actorId = pick(actors);
    const head = await memory.version(actorId);
    const size = (await wholeLog(memory)).length;
    const roll = rnd();
    if (roll < 0.22) {
      const e = rnd() < 0.25 && sent.length > 0 ? pick(sent) : event(actorId, Math.max(1, head + pick([1, 1, 2, 0, -1])));
      sent.push(e);
      operations.push([
        "save",
        i,
        async (s) => {
          const r = await s.save(e);
          return { ...r, sequence: named(s, i, { sequences: [[r.sequence]], duplicate: r.duplicate })[0]![0] };
        },
      ]);
    } else if (roll < 0.4) {
      const from = Math.max(1, head + pick([1, 1, 0]));
      const events = Array.from({ length: pick([1, 2, 3]) }, (_, k) => event(actorId, from + k));
      if (new Set(events.map((e) => e.id)).size < events.length) continue;
      sent.push(...events);
      // A condition decided on a read up to the k-th event of the log (or none, or the head).
      const conditional = rnd() < 0.5;
      const failIfEventsMatch = query();
      const k = rnd() < 0.3 ? size : Math.floor(rnd() * (size + 1));
      const withAfter = rnd() < 0.7;
      operations.push([
        conditional ? "conditional append" : "append",
        i,
        async (s) => {
          const after = conditional && withAfter ? await position(s, k, 0) : undefined;
          const condition = conditional ? { failIfEventsMatch, ...(after === undefined ? {} : { after }) } : undefined;
          const r = await s.append(actorId, events, undefined, condition);
          return { ...r, sequences: named(s, i, { sequences: [r.sequences], duplicate: r.duplicate })[0] };
        },
      ]);
    } else if (roll < 0.5) {
      const q = rnd() < 0.2 ? undefined : query();
      const backwards = rnd() < 0.4;
      const k = Math.floor(rnd() * (size + 1));
      const shift = pick([0, backwards ? -1 : 1]);
      const withFrom = rnd() < 0.6;
      const limit = pick([undefined, 1, 2, 5]);
      operations.push([
        "read",
        i,
        async (s) => {
          const from = withFrom ? await position(s, k, shift, !backwards) : undefined;
          const page = decodeLogPage(await s.read({ query: q, from, limit, backwards, maxBytes: 1 << 20 }));
          return { events: page.events.map((e) => [at(s).key(e.position), e.event]), hasMore: page.hasMore };
        },
      ]);
    } else if (roll < 0.62) {
      const fromVersion = Math.floor(rnd() * (head + 1));
      const limit = pick([undefined, 1, 2, 5]);
      const maxBytes = pick([1 << 20, 400]);
      operations.push(["events", i, async (s) => decodePage(await s.events(actorId, { fromVersion, limit, maxBytes }))]);
    } else if (roll < 0.68) {
      operations.push(["version", i, (s) => s.version(actorId)]);
    } else if (roll < 0.76) {
      const version = 1 + Math.floor(rnd() * (head + 1));
      const snapshot = { actorId, version, state: { i }, timestamp: "2026-01-01T00:00:00.000Z" };
      operations.push(["saveSnapshot", i, (s) => s.saveSnapshot(snapshot)]);
    } else if (roll < 0.82) {
      operations.push(["getSnapshot", i, async (s) => (await s.getSnapshot(actorId))?.snapshot]);
    } else if (roll < 0.91) {
      const held = memory.streams.events.subject(subjects.events(actorId));
      if (held.length === 0) continue;
      const m = pick(held);
      const seq = at(js).seq(at(memory).key(m.seq));
      if (seq === undefined) continue;
      memory.streams.events.delete(m.seq);
      await jsm.streams.deleteMessage(subjects.stream, seq);
      continue;
    } else if (roll < 0.95) {
      const filter = rnd() < 0.5 ? subjects.events(actorId) : undefined;
      memory.streams.events.purge(filter);
      await jsm.streams.purge(subjects.stream, filter ? { filter } : undefined);
      continue;
    } else if (roll < 0.98) {
      // The new stream holds the actor's history and one event more, which ends where the old one
      // did in the JetStream store's stream (where its cached heads point). The history is copied
      // without tags: raw messages carry no index, and neither backend may find them by tag.
      const held = memory.streams.events.subject(subjects.events(actorId));
      const last = held.at(-1) && at(js).seq(at(memory).key(held.at(-1)!.seq));
      if (last === undefined || last <= held.length) continue;
      const filler = (k: number): StreamMessage => {
        const e = {
          id: `filler-${k}`,
          eventType: "Filler",
          actorId: `filler-${seed}`,
          version: 1,
          data: {},
          timestamp: "2026-01-01T00:00:00.000Z",
        };
        return eventMessage(subjects.events(e.actorId), e);
      };
      const untagged = (json: Uint8Array) => {
        const { tags: _, ...rest } = JSON.parse(decoder.decode(json)) as Event;
        return JSON.stringify(rest);
      };
      const { tags: _, ...ahead } = event(actorId, head + 1);
      const refill: StreamMessage[] = [
        ...Array.from({ length: last - held.length - 1 }, (_, k) => filler(k)),
        ...held.map((m) => ({ subject: m.subject, headers: { [Headers.version]: String(m.version) }, data: untagged(m.json) })),
        eventMessage(subjects.events(actorId), ahead),
      ];
      const e = event(actorId, head + 1);
      const saving = outcome(() => js.save(e), at(js));
      replaceStreamWhileStalled(server.url, eventsStreamConfig(settings), refill);
      memory.streams.events = new MemoryStream();
      for (const m of refill) memory.streams.events.publish(m.subject, Number(m.headers[Headers.version]), encoder.encode(m.data));
      for (const p of positions.values()) {
        p.clear();
        for (let k = 0; k < refill.length; k++) p.record(k + 1, `refill.${i}.${k}`);
      }
      const name = "save while stalled";
      const actual = await saving;
      const expected = await outcome(() => memory.save(e), at(memory));
      expect({ op: i, name, actual }).toEqual({ op: i, name, actual: expected });
      continue;
    } else {
      memory.streams.events = new MemoryStream();
      for (const p of positions.values()) p.clear();
      await jsm.streams.delete(subjects.stream);
      await jsm.streams.add(eventsStreamConfig(settings));
      // JetStream announces the new stream; give the advisory its moment to arrive.
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    const [name, index, run] = operations.at(-1)!;
    const expected = await outcome(() => run(memory), at(memory));
    const actual = await outcome(() => run(js), at(js));
    expect({ op: index, name, actual }).toEqual({ op: index, name, actual: expected });
  }
  js.close();
});
