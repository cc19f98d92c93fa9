import { randomUUID } from "node:crypto";
import { AckPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { Headers } from "../src/contract/subjects.js";
import type { Event } from "../src/contract/types.js";
import type { EventStoreClient } from "../src/index.js";
import { publishAtomicBatch } from "../src/server/jetstream/batch.js";
import { deal, Latencies, median, type RunResult, round, runConcurrent } from "./measure.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An event of about 200 bytes of JSON, like the benchmark's brief asks. */
export function benchEvent(actorId: string, version: number): Event {
  return {
    id: randomUUID(),
    eventType: "ItemAdded",
    actorId,
    version,
    data: { sku: "SKU-0042-XL", quantity: 3, price: 1999, currency: "EUR", note: "bench" },
    metadata: { correlationId: "c0ffee00" },
  };
}

export async function call(nc: NatsConnection, subject: string, body: unknown): Promise<Record<string, unknown>> {
  const msg = await nc.request(subject, JSON.stringify(body), { timeout: 30_000 });
  const code = msg.headers?.get("Nats-Service-Error-Code");
  if (code) throw new Error(`${subject} answered ${code}: ${msg.headers?.get("Nats-Service-Error")}`);
  return JSON.parse(decoder.decode(msg.data)) as Record<string, unknown>;
}

/** Saves through the service (or the floor service); each worker owns its actors, so no save conflicts. */
export async function serviceSaves(
  nc: NatsConnection,
  concurrency: number,
  total: number,
  actors: string[],
  subject = "eventstore.save",
): Promise<RunResult> {
  const versions = new Map<string, number>();
  const dealt = deal(actors, concurrency);
  return runConcurrent(concurrency, total, async (worker, j) => {
    const mine = dealt[worker]!;
    const actorId = mine[j % mine.length]!;
    const version = (versions.get(actorId) ?? 0) + 1;
    versions.set(actorId, version);
    await call(nc, subject, benchEvent(actorId, version));
  });
}

/** The same saves straight to JetStream with the same expectation and headers: the limit. */
export async function limitSaves(
  js: JetStreamClient,
  stream: string,
  concurrency: number,
  total: number,
  actors: string[],
): Promise<RunResult> {
  const heads: RawHeads = new Map();
  const dealt = deal(actors, concurrency);
  return runConcurrent(concurrency, total, async (worker, j) => {
    const mine = dealt[worker]!;
    await rawSave(js, stream, heads, mine[j % mine.length]!);
  });
}

/** What the raw saves know of each actor: its version and its last message's sequence. */
type RawHeads = Map<string, { version: number; seq: number }>;

/** A save straight to JetStream: the actor's next event, expected after its last message, with the service's headers. */
async function rawSave(js: JetStreamClient, stream: string, heads: RawHeads, actorId: string): Promise<void> {
  const head = heads.get(actorId) ?? { version: 0, seq: 0 };
  const event = { ...benchEvent(actorId, head.version + 1), timestamp: new Date().toISOString() };
  const h = headers();
  h.set(Headers.version, String(event.version));
  const ack = await js.publish(`${stream}.events.bench.${actorId}`, encoder.encode(JSON.stringify(event)), {
    msgID: event.id,
    expect: { lastSubjectSequence: head.seq },
    headers: h,
  });
  heads.set(actorId, { version: event.version, seq: ack.seq });
}

/** First save of brand-new actors against saves to known ones, alternating, one in flight. */
export async function firstVersusKnown(nc: NatsConnection, rounds: number) {
  const known = `bench-${randomUUID()}`;
  let version = 0;
  await call(nc, "eventstore.save", benchEvent(known, ++version));
  const fresh = new Latencies();
  const warm = new Latencies();
  for (let i = 0; i < rounds; i++) {
    let t = performance.now();
    await call(nc, "eventstore.save", benchEvent(`bench-${randomUUID()}`, 1));
    fresh.add(performance.now() - t);
    t = performance.now();
    await call(nc, "eventstore.save", benchEvent(known, ++version));
    warm.add(performance.now() - t);
  }
  return { newActor: fresh.summary(), knownActor: warm.summary() };
}

/** Fills the stream with other actors' events, pipelined straight to JetStream. */
export async function fill(js: JetStreamClient, stream: string, count: number, inFlight = 512): Promise<void> {
  const body = encoder.encode(JSON.stringify({ ...benchEvent("fill-0", 1), timestamp: new Date().toISOString() }));
  const h = headers();
  h.set(Headers.version, "1");
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const n = next++;
        await js.publish(`${stream}.events.fill.fill-${n}`, body, { headers: h });
      }
    }),
  );
}

/**
 * Grows the stream by `count` messages while spreading `targets` 20-event actors evenly through
 * it, so each target's events sit far apart, the worst case for reads that scan.
 */
export async function growWithTargets(
  nc: NatsConnection,
  js: JetStreamClient,
  stream: string,
  count: number,
  targets: number,
  eventsPerTarget = 20,
): Promise<{ actors: string[]; tags: string[]; tagPositions: number[][] }> {
  const actors = Array.from({ length: targets }, () => `reader-${randomUUID()}`);
  // As many tags, each carried by one event of a new actor in every slice: a tag's events sit as
  // far apart as an actor's.
  const tags = Array.from({ length: targets }, () => `bench:${randomUUID()}`);
  const tagPositions: number[][] = tags.map(() => []);
  const slice = Math.floor(count / eventsPerTarget);
  for (let v = 1; v <= eventsPerTarget; v++) {
    await fill(js, stream, slice);
    await Promise.all(actors.map((id) => call(nc, "eventstore.save", benchEvent(id, v))));
    await Promise.all(
      tags.map(async (tag, i) => {
        const saved = await call(nc, "eventstore.save", { ...benchEvent(`tagged-${randomUUID()}`, 1), tags: [tag] });
        tagPositions[i]!.push(saved.sequence as number);
      }),
    );
  }
  return { actors, tags, tagPositions };
}

/** The raw counterpart of a tag read: a direct get of each of its events by position, all in flight at once. */
export async function rawGets(jsm: JetStreamManager, stream: string, positions: number[]): Promise<unknown[]> {
  const msgs = await Promise.all(positions.map((seq) => jsm.direct.getMessage(stream, { seq })));
  return msgs.map((m) => {
    if (!m) throw new Error("a tagged event is missing");
    return m.json();
  });
}

/** A read of one tag through the service, checked to return every one of its `expected` events. */
export async function readTag(nc: NatsConnection, tag: string, expected: number): Promise<void> {
  const page = await call(nc, "eventstore.read", { query: { items: [{ tags: [tag] }] } });
  const n = (page.events as unknown[]).length;
  if (n !== expected) throw new Error(`read of tag ${tag} returned ${n} events, expected ${expected}`);
}

/**
 * One event of a new actor, tagged with a new tag, appended on the condition that no event carries
 * that tag yet: the shape of "claim a unique name".
 */
export async function conditionalAppend(nc: NatsConnection): Promise<void> {
  const tag = `claim:${randomUUID()}`;
  const event = { ...benchEvent(`claim-${randomUUID()}`, 1), tags: [tag] };
  await call(nc, "eventstore.append", {
    actorId: event.actorId,
    events: [event],
    condition: { failIfEventsMatch: { items: [{ tags: [tag] }] } },
  });
}

/** A save of a new actor's first event, untagged: what a conditional append is compared with. */
export async function newActorSave(nc: NatsConnection): Promise<void> {
  await call(nc, "eventstore.save", benchEvent(`bench-${randomUUID()}`, 1));
}

/** What a conditional append costs beside a save, and what nats-server's atomic batch costs beside a publish. */
export interface ConditionalBench {
  /** 1 in flight, in turn: raw = a save of a new actor, service = a conditional append. */
  oneInFlight: Paired;
  /** 1 in flight, in turn, straight to JetStream: raw = a publish, service = an atomic batch of 2 messages. */
  serverBatch: Paired;
  concurrency: number;
  /** Runs taken in turn: saves of new actors, then conditional appends on distinct tags. */
  pairs: { saves: RunResult; conditional: RunResult; ratio: number }[];
  /** conditional / saves, median pair, and the range. */
  ratio: number;
  ratioRange: [number, number];
}

/** `rawStream`: a stream of its own for the raw publishes and batches, allowing atomic batches. */
export async function conditionalVersusSaves(
  nc: NatsConnection,
  stream: string,
  rounds: number,
  ops: number,
  concurrency: number,
): Promise<ConditionalBench> {
  const oneInFlight = await pairedCalls(
    rounds,
    () => newActorSave(nc),
    () => conditionalAppend(nc),
  );
  const body = encoder.encode(JSON.stringify(benchEvent("raw-0", 1)));
  const serverBatch = await pairedCalls(
    rounds,
    () => nc.request(`${stream}.one.${randomUUID()}`, body, { timeout: 30_000 }),
    () =>
      publishAtomicBatch(
        nc,
        [`${stream}.event.${randomUUID()}`, `${stream}.link.${randomUUID()}`].map((subject) => ({
          subject,
          data: body,
          headers: headers(),
        })),
        (subject, data, h) => nc.request(subject, data, { headers: h, timeout: 30_000 }),
      ),
  );
  const pairs: ConditionalBench["pairs"] = [];
  for (let p = 0; p < 3; p++) {
    const saves = await runConcurrent(concurrency, ops, () => newActorSave(nc));
    const conditional = await runConcurrent(concurrency, ops, () => conditionalAppend(nc));
    pairs.push({ saves, conditional, ratio: round(conditional.opsPerSec / saves.opsPerSec) });
  }
  const ratios = pairs.map((x) => x.ratio);
  return {
    oneInFlight,
    serverBatch,
    concurrency,
    pairs,
    ratio: median(ratios),
    ratioRange: [Math.min(...ratios), Math.max(...ratios)],
  };
}

/** Writes an actor with `events` events in 100-event appends (or saves when append is missing). */
export async function bigActor(nc: NatsConnection, events: number): Promise<string> {
  const actorId = `big-${randomUUID()}`;
  for (let from = 1; from <= events; from += 100) {
    const batch = Array.from({ length: Math.min(100, events - from + 1) }, (_, k) => benchEvent(actorId, from + k));
    await call(nc, "eventstore.append", { actorId, events: batch });
  }
  return actorId;
}

export async function appends(nc: NatsConnection, concurrency: number, batches: number, batchSize: number) {
  const actors = Array.from({ length: Math.max(concurrency * 4, 64) }, () => `cart-${randomUUID()}`);
  const versions = new Map<string, number>();
  const dealt = deal(actors, concurrency);
  const r = await runConcurrent(concurrency, batches, async (worker, j) => {
    const mine = dealt[worker]!;
    const actorId = mine[j % mine.length]!;
    const from = (versions.get(actorId) ?? 0) + 1;
    versions.set(actorId, from + batchSize - 1);
    const events = Array.from({ length: batchSize }, (_, k) => benchEvent(actorId, from + k));
    await call(nc, "eventstore.append", { actorId, events });
  });
  return { ...r, batchSize, eventsPerSec: r.opsPerSec * batchSize };
}

/**
 * Transactions of `actorsPer` actors × `eventsPer` events through the typed client. Each worker
 * owns twice as many actors as a transaction names and takes them in turn, so that no two
 * transactions in flight share an actor (no conflicts) and each names distinct actors.
 */
export async function transactions(client: EventStoreClient, concurrency: number, total: number, actorsPer: number, eventsPer: number) {
  const actors = Array.from({ length: concurrency * actorsPer * 2 }, () => `account-${randomUUID()}`);
  const versions = new Map<string, number>();
  const dealt = deal(actors, concurrency);
  const r = await runConcurrent(concurrency, total, async (worker, j) => {
    const mine = dealt[worker]!;
    const appends = Array.from({ length: actorsPer }, (_, k) => {
      const actorId = mine[(j * actorsPer + k) % mine.length]!;
      const from = (versions.get(actorId) ?? 0) + 1;
      versions.set(actorId, from + eventsPer - 1);
      return { actorId, events: Array.from({ length: eventsPer }, (_, e) => benchEvent(actorId, from + e)) };
    });
    await client.transact(appends);
  });
  return { ...r, actors: actorsPer, eventsPerActor: eventsPer, eventsPerSec: round(r.opsPerSec * actorsPer * eventsPer) };
}

export async function streamMessages(jsm: JetStreamManager, stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.messages;
}

export interface Paired {
  raw: { p50: number; p99: number };
  service: { p50: number; p99: number };
  /** service p50 / raw p50 */
  p50Ratio: number;
  p99Ratio: number;
}

/**
 * A service call and its raw JetStream counterpart, one in flight, taking turns, so that both
 * meet the same moments of a noisy machine.
 */
export async function pairedCalls(
  n: number,
  raw: (i: number) => Promise<unknown>,
  service: (i: number) => Promise<unknown>,
): Promise<Paired> {
  const r = new Latencies();
  const s = new Latencies();
  for (let i = 0; i < n; i++) {
    let t = performance.now();
    await raw(i);
    r.add(performance.now() - t);
    t = performance.now();
    await service(i);
    s.add(performance.now() - t);
  }
  const rs = r.summary();
  const ss = s.summary();
  return { raw: rs, service: ss, p50Ratio: round(ss.p50 / rs.p50, 2), p99Ratio: round(ss.p99 / rs.p99, 2) };
}

/** A save's latency at 1 in flight: p50 and p99 of each way, and the ratios to the raw publish. */
export interface SaveLatencies {
  raw: { p50: number; p99: number };
  service: { p50: number; p99: number };
  floor: { p50: number; p99: number };
  p50Ratio: number;
  p99Ratio: number;
  floorP50Ratio: number;
}

/**
 * One save at a time, taking turns call by call: a raw publish with the expectation, a save
 * through the service, a save through the floor service; each way to known actors of its own, so
 * that every save goes after the actor's head.
 */
export async function saveLatencies(
  js: JetStreamClient,
  stream: string,
  nc: NatsConnection,
  floorSubject: string,
  calls: number,
): Promise<SaveLatencies> {
  const ways = { raw: new Latencies(), service: new Latencies(), floor: new Latencies() };
  const heads: RawHeads = new Map();
  const versions = new Map<string, number>();
  const next = (actorId: string) => {
    const version = (versions.get(actorId) ?? 0) + 1;
    versions.set(actorId, version);
    return benchEvent(actorId, version);
  };
  const prefix = randomUUID();
  for (let i = 0; i < calls; i++) {
    const actor = (way: string) => `${way}-${prefix}-${i % 100}`;
    let t = performance.now();
    await rawSave(js, stream, heads, actor("raw"));
    ways.raw.add(performance.now() - t);
    t = performance.now();
    await call(nc, "eventstore.save", next(actor("service")));
    ways.service.add(performance.now() - t);
    t = performance.now();
    await call(nc, floorSubject, next(actor("floor")));
    ways.floor.add(performance.now() - t);
  }
  const [raw, service, floor] = [ways.raw.summary(), ways.service.summary(), ways.floor.summary()];
  return {
    raw,
    service,
    floor,
    p50Ratio: round(service.p50 / raw.p50, 2),
    p99Ratio: round(service.p99 / raw.p99, 2),
    floorP50Ratio: round(floor.p50 / raw.p50, 2),
  };
}

/** The raw counterpart of `version`: the subject's last message, one direct get. */
export async function rawLast(jsm: JetStreamManager, stream: string, subject: string): Promise<unknown> {
  const m = await jsm.direct.getMessage(stream, { last_by_subj: subject });
  if (!m) throw new Error(`no message on ${subject}`);
  return m.json();
}

/** Where a subject's first message sits, so that a raw read can start there as the service's index does. */
export async function firstSeq(jsm: JetStreamManager, stream: string, subject: string): Promise<number> {
  const m = await jsm.direct.getMessage(stream, { seq: 1, next_by_subj: subject });
  if (!m) throw new Error(`no message on ${subject}`);
  return m.seq;
}

/** The raw counterpart of a read of `count` events: one batch direct get of them, from the first one's sequence. */
export async function rawBatch(jsm: JetStreamManager, stream: string, subject: string, seq: number, count: number): Promise<unknown[]> {
  const events: unknown[] = [];
  for await (const m of await jsm.direct.getBatch(stream, { seq, next_by_subj: subject, batch: count })) events.push(m.json());
  if (events.length !== count) throw new Error(`batch get of ${subject} returned ${events.length} messages, expected ${count}`);
  return events;
}

/**
 * The ways to read a whole history, each resolving to the milliseconds it took. Each ends with
 * every event parsed from its body (no headers read), as the client's iterator hands them over.
 */
export const fullReads = {
  /** Through the service, every page, with the client's `events` iterator. */
  async service(client: EventStoreClient, actorId: string, expected: number): Promise<number> {
    const t = performance.now();
    let seen = 0;
    for await (const _ of client.events(actorId)) seen++;
    return finished(t, seen, expected);
  },

  /** An ordered consumer on the actor's subject, until nothing is pending. */
  async orderedConsumer(js: JetStreamClient, stream: string, subject: string, expected: number): Promise<number> {
    const t = performance.now();
    const consumer = await js.consumers.get(stream, { filter_subjects: [subject] });
    let seen = 0;
    for await (const m of await consumer.consume({ max_messages: expected })) {
      m.json();
      seen++;
      if (m.info.pending === 0) break;
    }
    return finished(t, seen, expected);
  },

  /** Batch direct gets of the actor's subject, each from where the last one ended. */
  async batchDirectGets(jsm: JetStreamManager, stream: string, subject: string, expected: number): Promise<number> {
    const t = performance.now();
    let seen = 0;
    let next = 1;
    while (seen < expected) {
      const before = seen;
      for await (const m of await jsm.direct.getBatch(stream, { seq: next, next_by_subj: subject, batch: expected - seen })) {
        m.json();
        seen++;
        next = m.seq + 1;
      }
      if (seen === before) break;
    }
    return finished(t, seen, expected);
  },
};

function finished(start: number, seen: number, expected: number): number {
  if (seen !== expected) throw new Error(`full read saw ${seen} events, expected ${expected}`);
  return round(performance.now() - start);
}

/** One reading of the stream's `events` fill events by each reader, in events per second. */
export interface ProjectionRound {
  projection: number;
  rawPull: number;
  rawOrdered: number;
}

/**
 * Reads `events` events three ways, in turn: an ordered projection with a no-op handler (pinned
 * pull consumer, an ack per event), a raw durable pull consumer acking each message, and a raw
 * ordered consumer (no acks: the fastest way to read a stream). Each parses every event's JSON.
 */
export async function projectionRound(
  client: EventStoreClient,
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  events: number,
): Promise<ProjectionRound> {
  const name = `bench-${randomUUID()}`;
  let t = performance.now();
  let seen = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const projection = await client.project(
    name,
    () => {
      if (++seen === events) done();
    },
    { actorType: "fill" },
  );
  await all;
  const projectionMs = performance.now() - t;
  await projection.stop();
  await client.removeProjection(name);

  const subject = `${stream}.events.fill.>`;
  t = performance.now();
  await jsm.consumers.add(stream, { durable_name: name, ack_policy: AckPolicy.Explicit, filter_subject: subject });
  const durable = await js.consumers.get(stream, name);
  seen = 0;
  for await (const m of await durable.consume({ max_messages: 256 })) {
    m.json();
    m.ack();
    if (++seen === events) break;
  }
  const rawPullMs = performance.now() - t;
  await jsm.consumers.delete(stream, name);

  t = performance.now();
  const ordered = await js.consumers.get(stream, { filter_subjects: [subject] });
  seen = 0;
  for await (const m of await ordered.consume({ max_messages: 256 })) {
    m.json();
    if (++seen === events) break;
  }
  const rawOrderedMs = performance.now() - t;
  await ordered.delete();
  const rate = (ms: number) => Math.round(events / (ms / 1000));
  return { projection: rate(projectionMs), rawPull: rate(rawPullMs), rawOrdered: rate(rawOrderedMs) };
}
