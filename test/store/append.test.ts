import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, nanos } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NotSupportedError, ValidationError, VersionConflictError } from "../../src/contract/errors.js";
import { Headers, Subjects } from "../../src/contract/subjects.js";
import type { Event } from "../../src/contract/types.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import { loadSchemas } from "../../src/server/service/validation.js";
import { messageId } from "../../src/server/store/encode.js";
import { MemoryEventStore } from "../../src/server/store/memory.js";
import { MAX_APPEND_EVENTS, MAX_TRANSACT_ACTORS } from "../../src/server/store/rules.js";
import { ensureStreams } from "../../src/server.js";
import { event as ev, events } from "../harness/events.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { decodePage } from "../harness/pages.js";
import { appendConformance, eraseConformance, transactConformance } from "./conformance.js";

const subjects = new Subjects("APPEND");
const silent = pino({ level: "silent" });
let server: NatsServer;
let nc: NatsConnection;
let other: NatsConnection;
let jsm: JetStreamManager;

const open = (conn: NatsConnection, s = subjects, atomicBatch = true) =>
  new JetStreamEventStore(conn, { subjects: s, cacheSize: 1000, timeoutMs: 5000, atomicBatch });
const createStreams = (s: Subjects) => ensureStreams(jsm, { subjects: s, replicas: 1, snapshotsKeep: 2, atomicBatch: true }, silent);
const batch = events;

let store: JetStreamEventStore;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  other = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  await createStreams(subjects);
  store = open(nc);
});

afterAll(async () => {
  await nc?.close();
  await other?.close();
  await server?.stop();
});

const memory = new MemoryEventStore({ snapshotsKeep: 3 });
appendConformance("memory", () => memory);
appendConformance("jetstream", () => store);
transactConformance("memory", () => memory);
transactConformance("jetstream", () => store);
eraseConformance("memory", () => memory);
eraseConformance("jetstream", () => store);

describe("JetStream append", () => {
  it("stores one ordinary message per event, with the id and version headers, at the sequences it reports", async () => {
    const a = `order-${randomUUID()}`;
    const events = batch(a, 1, 3);
    const r = await store.append(a, events);
    const batchIds = new Set<string>();
    for (const [i, seq] of r.sequences.entries()) {
      const msg = await jsm.streams.getMessage(subjects.stream, { seq });
      expect(msg!.subject).toBe(subjects.events(a));
      expect(msg!.header.get("Nats-Msg-Id")).toBe(messageId(a, i + 1, events[i]!.id));
      expect(msg!.header.get(Headers.version)).toBe(String(i + 1));
      // consumers can tell which events were appended together
      expect(msg!.header.get("Nats-Batch-Sequence")).toBe(String(i + 1));
      batchIds.add(msg!.header.get("Nats-Batch-Id"));
      expect(msg!.json<Event>()).toMatchObject(events[i]!);
    }
    expect(batchIds.size).toBe(1);
    expect([...batchIds][0]).not.toBe("");
  });

  it("answers 501 naming the required server version when the server has no atomic batch publish", async () => {
    const a = `order-${randomUUID()}`;
    const err = await open(nc, subjects, false)
      .append(a, batch(a, 1, 2))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err).toMatchObject({ code: 501, requiredServerVersion: "2.12.0" });
    expect((err as Error).message).toContain("2.12.0");
    expect(await store.version(a)).toBe(0);
  });

  it("corrects a stale cache: a conflict names the true version, a later batch lands on the real head", async () => {
    const a = `order-${randomUUID()}`;
    const mine = open(nc);
    const theirs = open(other);
    await mine.append(a, batch(a, 1, 2));
    await theirs.append(a, batch(a, 3, 2));
    // mine still believes the actor is at version 2
    const err = await mine.append(a, batch(a, 3, 3)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VersionConflictError);
    expect(err).toMatchObject({ attemptedVersion: 3, currentVersion: 4 });
    await theirs.append(a, batch(a, 5, 1));
    // theirs is at 5 and believes so; mine saw 4 on its conflict and must retry over the moved head
    const r = await mine.append(a, batch(a, 6, 2));
    expect(r).toMatchObject({ fromVersion: 6, toVersion: 7, duplicate: false });
    expect(mine.counters.append.retries).toBeGreaterThan(0);
    const read = decodePage(await mine.events(a, { maxBytes: 1 << 20 })).events.map((e) => e.version);
    expect(read).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it("answers a retry from another process with a cold cache as a duplicate with the original sequences", async () => {
    const a = `order-${randomUUID()}`;
    const events = batch(a, 1, 3);
    const original = await open(nc).append(a, events);
    await store.save(ev(a, 4));
    expect(await open(other).append(a, events)).toEqual({ ...original, duplicate: true });
  });

  it("answers a retry from a process whose cache predates the batch as a duplicate (JetStream refuses the reused ids)", async () => {
    const a = `order-${randomUUID()}`;
    const events = batch(a, 1, 3);
    const stale = open(other);
    expect(await stale.version(a)).toBe(0);
    const original = await open(nc).append(a, events);
    expect(await stale.append(a, events)).toEqual({ ...original, duplicate: true });
  });

  it("stores an append reusing an id of another actor's recent append: the dedup key is (actor, version, id)", async () => {
    const a = `order-${randomUUID()}`;
    const b = `order-${randomUUID()}`;
    const theirs = batch(b, 1, 2);
    await store.append(b, theirs);
    const r = await store.append(a, [ev(a, 1), { ...ev(a, 2), id: theirs[1]!.id }]);
    expect(r).toMatchObject({ fromVersion: 1, toVersion: 2, duplicate: false });
    expect(await store.version(a)).toBe(2);
  });

  it("answers a transaction retried through a replica whose cache is behind on one actor as a duplicate", async () => {
    const a = `acct-${randomUUID()}`;
    const b = `acct-${randomUUID()}`;
    const stale = open(other);
    await store.save(ev(b, 1));
    expect(await stale.version(b)).toBe(1);
    const tx = [
      { actorId: a, events: [ev(a, 1)] },
      { actorId: b, events: [ev(b, 2)] },
    ];
    const original = await open(nc).transact(tx);
    // stale remembers b at version 1: its part looks new, a's looks stored; neither is the answer alone
    expect(await stale.transact(tx)).toEqual({ ...original, duplicate: true });
  });

  it("keeps the schema's maxItems and the store's limit at the server's default batch limit", () => {
    const schema = loadSchemas().get("append.request.json") as { properties: { events: { maxItems: number } } };
    expect(schema.properties.events.maxItems).toBe(MAX_APPEND_EVENTS);
    expect(MAX_APPEND_EVENTS).toBe(1000);
    expect(MAX_TRANSACT_ACTORS).toBe(100);
  });
});

describe("JetStream append once the dedup window has passed", () => {
  const short = new Subjects("APPENDDW");

  beforeAll(async () => {
    await createStreams(short);
    const info = await jsm.streams.info(short.stream);
    await jsm.streams.update(short.stream, { ...info.config, duplicate_window: nanos(500) });
  });

  it("still answers a retry as a duplicate: the stale expectation, not dedup, refuses it", async () => {
    const a = `order-${randomUUID()}`;
    const events = batch(a, 1, 3);
    const stale = open(other, short);
    expect(await stale.version(a)).toBe(0);
    const original = await open(nc, short).append(a, events);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await stale.append(a, events)).toEqual({ ...original, duplicate: true });
    expect(stale.counters.append.retries).toBe(1);
  });
});

describe("JetStream append on a server configured with a lower batch limit", () => {
  const dir = mkdtempSync(join(tmpdir(), "es-batch-limit-"));
  let limited: NatsServer;
  let conn: NatsConnection;
  let small: JetStreamEventStore;

  beforeAll(async () => {
    limited = await startNatsServer({
      jetstream: false,
      config: `jetstream { store_dir: ${JSON.stringify(dir)}, limits { batch { max_msgs: 5 } } }`,
    });
    conn = await connect({ servers: limited.url });
    await ensureStreams(await jetstreamManager(conn), { subjects, replicas: 1, snapshotsKeep: 2, atomicBatch: true }, silent);
    small = open(conn);
  });

  afterAll(async () => {
    await conn?.close();
    await limited?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers 400 naming the server's limit and stores nothing", async () => {
    const a = `order-${randomUUID()}`;
    const err = await small.append(a, batch(a, 1, 6)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toContain("jetstream.limits.batch.max_msgs");
    expect(await small.version(a)).toBe(0);
    expect((await small.append(a, batch(a, 1, 5))).toVersion).toBe(5);
  });
});
