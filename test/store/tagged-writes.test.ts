import { randomUUID } from "node:crypto";
import { type JetStreamManager, jetstream, jetstreamManager, type StoredMsg } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConditionFailedError, ValidationError } from "../../src/contract/errors.js";
import { Subjects } from "../../src/contract/subjects.js";
import type { Condition } from "../../src/contract/types.js";
import type { JetStreamOperation } from "../../src/server/jetstream/observer.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import { StreamConfigError } from "../../src/server/jetstream-store/stream-config.js";
import { decodeTagLink, resolveTagLink } from "../../src/server/jetstream-store/tag-link.js";
import { ensureStreams } from "../../src/server.js";
import { event as ev, events as evs } from "../harness/events.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";

// The JetStream write side of contract v3: tag links in the write's atomic batch, conditions
// checked by the server through guards, exact re-evaluation of coarse guards.

const subjects = new Subjects("TAGW");
const silent = pino({ level: "silent" });
let server: NatsServer;
let nc: NatsConnection;
let other: NatsConnection;
let jsm: JetStreamManager;
let store: JetStreamEventStore;

const settings = (s: Subjects) => ({ subjects: s, replicas: 1, snapshotsKeep: 2, atomicBatch: true });
const open = (conn: NatsConnection, observer?: { start: (op: JetStreamOperation) => () => void }) =>
  new JetStreamEventStore(conn, { subjects, cacheSize: 1000, timeoutMs: 5000, atomicBatch: true, observer });

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  other = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, settings(subjects), silent);
  store = open(nc);
});

afterAll(async () => {
  await nc?.close();
  await other?.close();
  await server?.stop();
});

const tag = (name: string) => `${name}:${randomUUID()}`;
const getMsg = (seq: number): Promise<StoredMsg> => jsm.streams.getMessage(subjects.stream, { seq }) as Promise<StoredMsg>;
const lastOn = (subject: string) => jsm.streams.getMessage(subjects.stream, { last_by_subj: subject }) as Promise<StoredMsg | null>;
const expectation = (m: StoredMsg) => m.header?.get("Nats-Expected-Last-Subject-Sequence");
const condition = (items: Condition["failIfEventsMatch"]["items"], after?: number): Condition =>
  after === undefined ? { failIfEventsMatch: { items } } : { failIfEventsMatch: { items }, after };

describe("stream subjects", () => {
  it("adds the tag and guard subjects to a v2 events stream and keeps its events", async () => {
    const own = new Subjects(`V2_${randomUUID().slice(0, 8)}`);
    await jsm.streams.add({ name: own.stream, subjects: [own.eventsWildcard], allow_direct: true });
    await jetstream(nc).publish(own.events("order-1"), "{}");
    await ensureStreams(jsm, settings(own), silent);
    const info = await jsm.streams.info(own.stream);
    expect(info.config.subjects.sort()).toEqual(own.eventsStreamSubjects().sort());
    expect(info.state.messages).toBe(1);
    await jsm.streams.delete(own.stream);
    await jsm.streams.delete(own.snapshotsStream);
  });

  it("still refuses an events stream with other subjects", async () => {
    const own = new Subjects(`V2X_${randomUUID().slice(0, 8)}`);
    await jsm.streams.add({ name: own.stream, subjects: [own.eventsWildcard, `${own.stream}.other.>`] });
    await expect(ensureStreams(jsm, settings(own), silent)).rejects.toBeInstanceOf(StreamConfigError);
    await jsm.streams.delete(own.stream);
  });
});

describe("tagged writes", () => {
  it("store a tagged save with one link per tag, chained to the tag's previous link with a window", async () => {
    const [t, u] = [tag("t"), tag("u")];
    const a = `order-${randomUUID()}`;
    const b = `order-${randomUUID()}`;
    const first = await store.save(ev(a, 1, { tags: [t, u] }));
    const linkT1 = await lastOn(subjects.tags(t));
    const linkU = await lastOn(subjects.tags(u));
    for (const link of [linkT1!, linkU!]) {
      expect(expectation(link)).toBe("0");
      expect(resolveTagLink(link.seq, decodeTagLink(link.data))).toMatchObject({ n: 1, events: [first.sequence], previous: 0 });
    }
    // Another replica (no cache) chains the next link to the stored one.
    const second = await open(other).save(ev(b, 1, { tags: [t] }));
    const linkT2 = (await lastOn(subjects.tags(t)))!;
    expect(expectation(linkT2)).toBe(String(linkT1!.seq));
    expect(resolveTagLink(linkT2.seq, decodeTagLink(linkT2.data))).toEqual({
      seq: linkT2.seq,
      n: 2,
      events: [second.sequence],
      previous: linkT1!.seq,
      window: [{ link: linkT1!.seq, events: [first.sequence] }],
      next: 0,
    });
    // The event itself is where v2 put it, and its sequence is the reply's.
    expect((await getMsg(second.sequence)).subject).toBe(subjects.events(b));
  });

  it("lay out a transact as each actor's events and links, a second link of a tag chained to the first by offset", async () => {
    const [t, u] = [tag("t"), tag("u")];
    const a = `order-${randomUUID()}`;
    const b = `order-${randomUUID()}`;
    const r = await store.transact([
      { actorId: a, events: evs(a, 1, 2, (v) => ({ tags: v === 1 ? [t] : [t, u] })) },
      { actorId: b, events: [ev(b, 1, { tags: [t] })] },
    ]);
    const [sa, sb] = [r.appends[0]!.sequences, r.appends[1]!.sequences];
    // [a1, a2, link t, link u, b1, link t]
    expect(sa[1]! - sa[0]!).toBe(1);
    expect(sb[0]! - sa[1]!).toBe(3);
    const firstT = await getMsg(sa[1]! + 1);
    const linkU = await getMsg(sa[1]! + 2);
    const secondT = await getMsg(sb[0]! + 1);
    expect([firstT.subject, linkU.subject, secondT.subject]).toEqual([subjects.tags(t), subjects.tags(u), subjects.tags(t)]);
    expect(expectation(firstT)).toBe("0");
    expect(expectation(linkU)).toBe("0");
    expect(secondT.header?.has("Nats-Expected-Last-Subject-Sequence")).toBe(false);
    expect(resolveTagLink(firstT.seq, decodeTagLink(firstT.data)).events).toEqual(sa);
    expect(resolveTagLink(linkU.seq, decodeTagLink(linkU.data)).events).toEqual([sa[1]]);
    expect(resolveTagLink(secondT.seq, decodeTagLink(secondT.data))).toMatchObject({
      n: 2,
      events: sb,
      previous: firstT.seq,
      window: [{ link: firstT.seq, events: sa }],
    });
  });

  it("send a new actor's or a new tag's first write without reading first, and read only when JetStream refuses the guess", async () => {
    const ops: JetStreamOperation[] = [];
    const counted = open(nc, {
      start: (op) => {
        // The store's watch of the streams asks for stream info on its own clock: not the writes'.
        if (op !== "stream_info") ops.push(op);
        return () => {};
      },
    });
    const a = `order-${randomUUID()}`;
    await counted.save(ev(a, 1));
    await counted.save(ev(a, 2));
    // A save is one publish: an actor the store does not know is taken to be new.
    expect(ops).toEqual(["publish", "publish"]);
    ops.length = 0;
    const t = tag("t");
    await counted.save(ev(a, 3, { tags: [t] }));
    await counted.save(ev(a, 4, { tags: [t] }));
    // A new tag is taken to have no link yet, then its link is cached: each tagged save is one batch.
    expect(ops).toEqual(["batch_publish", "batch_publish"]);
    ops.length = 0;
    // A conditional append on a new tag, and its next one on the same tag (after the first): one batch each.
    const name = tag("username");
    const u = `user-${randomUUID()}`;
    const r = await counted.append(u, [ev(u, 1, { tags: [name] })], undefined, condition([{ tags: [name] }]));
    await counted.append(u, [ev(u, 2, { tags: [name] })], undefined, condition([{ tags: [name] }], r.sequences[0]! + 1));
    expect(ops).toEqual(["batch_publish", "batch_publish"]);
    ops.length = 0;
    // An actor and a tag that another store wrote: the guess is refused, the heads are read, and the
    // write goes after them. A refused guess is no retry.
    const known = `order-${randomUUID()}`;
    const shared = tag("shared");
    await store.save(ev(known, 1, { tags: [shared] }));
    const saved = await counted.save(ev(known, 2, { tags: [shared] }));
    expect(ops).toEqual(["batch_publish", "direct_get", "direct_get", "batch_publish"]);
    expect(counted.counters.save.retries).toBe(0);
    const last = (await lastOn(subjects.tags(shared)))!;
    // The chain goes on from the other store's link: the guess was not stored.
    expect(resolveTagLink(last.seq, decodeTagLink(last.data))).toMatchObject({ n: 2, events: [saved.sequence] });
    expect(saved).toMatchObject({ version: 2, duplicate: false });
    counted.close();
  });

  it("refuse a write whose events, links and guards pass the batch limit, naming it", async () => {
    const a = `order-${randomUUID()}`;
    const t = tag("t");
    const err = await store
      .append(
        a,
        evs(a, 1, 1000, () => ({ tags: [t] })),
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toContain("1001 messages");
    expect((err as Error).message).toContain("1000");
  });
});

describe("conditions", () => {
  it("store when nothing matches, refuse with the newest matching position when something does", async () => {
    const name = tag("username");
    const claim = (actorId: string) =>
      store.append(actorId, [ev(actorId, 1, { eventType: "UserRegistered", tags: [name] })], undefined, condition([{ tags: [name] }]));
    const first = await claim(`user-${randomUUID()}`);
    const err = await claim(`user-${randomUUID()}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConditionFailedError);
    expect(err).toMatchObject({ position: first.sequences[0] });
  });

  it("never refuse because of a non-matching event on a coarse guard", async () => {
    const course = tag("course");
    const a = `course-${randomUUID()}`;
    const start = await store.save(ev(a, 1, { eventType: "CourseDefined", tags: [course] }));
    // An event of another type on the tag after `after`: the tag guard moved, the item does not match.
    await store.save(ev(a, 2, { eventType: "CourseRenamed", tags: [course] }));
    const s = `student-${randomUUID()}`;
    const subscribe = (v: number, after: number) =>
      store.append(
        s,
        [ev(s, v, { eventType: "StudentSubscribed", tags: [course] })],
        undefined,
        condition([{ types: ["StudentSubscribed", "CourseDefined"], tags: [course] }], after),
      );
    const ok = await subscribe(1, start.sequence);
    expect(ok.duplicate).toBe(false);
    // Now a matching event lies after `after`: refused, at its position.
    const err = await subscribe(2, start.sequence).catch((e: unknown) => e);
    expect(err).toMatchObject({ position: ok.sequences[0] });
  });

  it("guard a tag the write does not carry with a guard message, and re-evaluate it exactly", async () => {
    const [g, a] = [tag("g"), tag("a")];
    const x = `guard-${randomUUID()}`;
    const base = await store.save(ev(x, 1, { eventType: "Other", tags: [g] }));
    const w = `writer-${randomUUID()}`;
    const r = await store.append(w, [ev(w, 1, { tags: [a] })], undefined, condition([{ types: ["Watched"], tags: [g] }], 0));
    const guard = (await lastOn(subjects.guard))!;
    expect(guard.seq).toBe(r.sequences[0]! + 2);
    expect(guard.header?.get("Nats-Expected-Last-Subject-Sequence-Subject")).toBe(subjects.tags(g));
    expect(expectation(guard)).toBe(String(base.sequence + 1));
    const watched = await store.save(ev(x, 2, { eventType: "Watched", tags: [g] }));
    const err = await store
      .append(w, [ev(w, 2, { tags: [a] })], undefined, condition([{ types: ["Watched"], tags: [g] }], base.sequence))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ position: watched.sequence });
  });

  it("guard an item of types only on the stream, exactly", async () => {
    const type = `Invoiced${randomUUID().slice(0, 8)}`;
    const w = `invoice-${randomUUID()}`;
    const first = await store.append(w, [ev(w, 1, { eventType: type })], undefined, condition([{ types: [type] }]));
    // Other events land after: the stream moved, nothing matches.
    await store.save(ev(`other-${randomUUID()}`, 1));
    const second = await store.append(w, [ev(w, 2, { eventType: type })], undefined, condition([{ types: [type] }], first.sequences[0]));
    await store.save(ev(`other-${randomUUID()}`, 1));
    const err = await store
      .append(w, [ev(w, 3, { eventType: type })], undefined, condition([{ types: [type] }], first.sequences[0]))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ position: second.sequences[0] });
  });

  it("answer a stored write retried as a duplicate, whatever its condition says now", async () => {
    const name = tag("username");
    const u = `user-${randomUUID()}`;
    const events = [ev(u, 1, { tags: [name] })];
    const c = condition([{ tags: [name] }]);
    const first = await store.append(u, events, undefined, c);
    const again = await open(other).append(u, events, undefined, c);
    expect(again).toEqual({ ...first, duplicate: true });
  });

  it("answer a retry as a duplicate through a store that knows the tag but not the actor, though the condition fails now", async () => {
    const name = tag("username");
    const replica = open(other);
    // The other store writes the tag first, so it knows the tag's link but never learns of `u`.
    const before = await replica.save(ev(`user-${randomUUID()}`, 1, { tags: [name] }));
    const u = `user-${randomUUID()}`;
    const events = [ev(u, 1, { tags: [name] })];
    const c = condition([{ tags: [name] }], before.sequence);
    const first = await store.append(u, events, undefined, c);
    // The other store writes the tag again, so it knows a link past the write, still not `u`.
    await replica.save(ev(`user-${randomUUID()}`, 1, { tags: [name] }));
    // Events matching the condition are stored after `after` now: only the actor's head shows
    // that this one is a retry of a stored write.
    const again = await replica.append(u, events, undefined, c);
    expect(again).toEqual({ ...first, duplicate: true });
    replica.close();
  });

  it("let exactly one of many concurrent claims of a name win, across two store instances", async () => {
    const stores = [open(nc), open(other)];
    for (let round = 0; round < 5; round++) {
      const name = tag("username");
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => {
          const u = `user-${randomUUID()}`;
          return stores[i % 2]!.append(u, [ev(u, 1, { tags: [name] })], undefined, condition([{ tags: [name] }]));
        }),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(ConditionFailedError);
      // One link on the tag: the winner's.
      expect((await lastOn(subjects.tags(name)))!.seq).toBe(
        (won[0] as PromiseFulfilledResult<{ sequences: number[] }>).value.sequences[0]! + 1,
      );
    }
    for (const s of stores) s.close();
  });
});

describe("erase", () => {
  it("deletes the actor's tag links with its events; other actors' events of the tag are still found along the chain", async () => {
    const own = new Subjects(`ERASETAGS_${randomUUID().slice(0, 8)}`);
    await ensureStreams(jsm, settings(own), silent);
    const s = new JetStreamEventStore(nc, { subjects: own, cacheSize: 1000, timeoutMs: 5000, atomicBatch: true });
    const [shared, mineOnly] = [tag("shared"), tag("private")];
    const x = `person-${randomUUID()}`;
    const kept: number[] = [];
    const saveOther = async () => {
      const y = `other-${randomUUID()}`;
      kept.push((await s.save(ev(y, 1, { tags: [shared] }))).sequence);
    };
    await saveOther();
    const xs = (
      await s.append(
        x,
        evs(x, 1, 3, () => ({ tags: [shared, mineOnly] })),
      )
    ).sequences;
    xs.push((await s.save(ev(x, 4, { tags: [shared] }))).sequence);
    // Enough later events that windows no longer reach the erased links: the chain continues through them.
    for (let i = 0; i < 40; i++) await saveOther();
    await s.erase(x);

    const info = await jsm.streams.info(own.stream);
    const stored: StoredMsg[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const msg = await jsm.streams.getMessage(own.stream, { seq }).catch(() => null);
      if (msg) stored.push(msg as StoredMsg);
    }
    const text = (m: StoredMsg) => new TextDecoder().decode(m.data);
    expect(stored.filter((m) => text(m).includes(mineOnly))).toEqual([]);
    expect(stored.filter((m) => m.subject === own.tags(mineOnly))).toEqual([]);
    const links = stored.filter((m) => m.subject.startsWith(own.tagsPrefix)).map((m) => resolveTagLink(m.seq, decodeTagLink(m.data)));
    expect(links.filter((l) => l.events.some((e) => xs.includes(e)))).toEqual([]);
    expect(links).toHaveLength(kept.length);

    // A reader walks the chain from its last link; where a link was deleted it goes on at the newest surviving one below.
    const bySeq = new Map(links.map((l) => [l.seq, l]));
    const found = new Set<number>();
    let at = Math.max(...bySeq.keys());
    while (at > 0) {
      const link = bySeq.get(at) ?? bySeq.get(Math.max(0, ...[...bySeq.keys()].filter((k) => k < at)));
      if (!link) break;
      for (const e of [...link.events, ...link.window.flatMap((w) => w.events)]) found.add(e);
      at = link.next;
    }
    expect(kept.every((seq) => found.has(seq))).toBe(true);
    s.close();
    await jsm.streams.delete(own.stream);
    await jsm.streams.delete(own.snapshotsStream);
  });
});
