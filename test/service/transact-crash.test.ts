import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import type { Event } from "../../src/schemas/types.js";
import { Subjects } from "../../src/subjects.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { request } from "../harness/requests.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";
import { lastSequence, readStoredEvents, type StoredEventMsg } from "../harness/stored-events.js";

// A transaction whose service process dies half-way through its atomic batch: the stream holds
// none of its events, for any of its actors, and the retry stores all of them.

const subjects = new Subjects("EVENTS");
const ACTORS = 8;
const EVENTS_PER_ACTOR = 100;
// Half of the actors have a history before the transaction, so that their expectations are not zero.
const PRIOR = 3;
// The batch has come this far (three actors' events and part of a fourth) when the process is stopped.
const HALFWAY = 350;
const padding = "x".repeat(100);

const dir = mkdtempSync(join(tmpdir(), "es-transact-crash-"));
let server: NatsServer;
let nc: NatsConnection;
const services: ServiceProcess[] = [];
let watch: Subscription | undefined;

beforeAll(async () => {
  // An abandoned batch is dropped after the batch timeout: a short one lets the test see that happen.
  server = await startNatsServer({
    jetstream: false,
    config: `jetstream { store_dir: ${JSON.stringify(dir)}, limits { batch { timeout: 1s } } }`,
  });
  nc = await connect({ servers: server.url });
});

afterEach(() => {
  watch?.unsubscribe();
  watch = undefined;
});

afterAll(async () => {
  await nc?.close();
  for (const s of services) await s.kill();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function service(): Promise<ServiceProcess> {
  const s = await startServiceProcess(server.url);
  services.push(s);
  return s;
}

const event = (actorId: string, version: number): Event => ({
  id: randomUUID(),
  eventType: "LineAdded",
  actorId,
  version,
  data: { version, padding },
});

/** Actors, half of them with PRIOR events stored already, and a transaction of EVENTS_PER_ACTOR events for each. */
async function prepare() {
  const actors = Array.from({ length: ACTORS }, (_, i) => ({ actorId: `order-${randomUUID()}`, prior: i % 2 === 0 ? PRIOR : 0 }));
  for (const { actorId, prior } of actors) {
    if (prior === 0) continue;
    const events = Array.from({ length: prior }, (_, v) => event(actorId, v + 1));
    expect((await request(nc, "eventstore.append", { actorId, events })).code).toBe(0);
  }
  const appends = actors.map(({ actorId, prior }) => ({
    actorId,
    events: Array.from({ length: EVENTS_PER_ACTOR }, (_, v) => event(actorId, prior + v + 1)),
  }));
  return { actors, appends };
}

/** Resolves once `after` messages of batches for these actors have passed their subjects; counts what passes. */
function watchBatch(actorIds: string[], after: number) {
  const watched = new Set(actorIds.map((a) => subjects.events(a)));
  const seen = { messages: 0, subjects: new Set<string>(), committed: false };
  let reached!: () => void;
  const halfway = new Promise<void>((resolve) => (reached = resolve));
  watch = nc.subscribe(subjects.eventsWildcard, {
    callback: (_err, msg) => {
      if (!watched.has(msg.subject) || !msg.headers?.get("Nats-Batch-Id")) return;
      seen.messages++;
      seen.subjects.add(msg.subject);
      // Only the commit of the whole transaction counts: a commit earlier in it would be a bug to catch.
      if (msg.headers.get("Nats-Batch-Commit") && msg.headers.get("Nats-Batch-Sequence") === String(ACTORS * EVENTS_PER_ACTOR)) {
        seen.committed = true;
      }
      if (seen.messages >= after) reached();
    },
  });
  return { seen, halfway };
}

/** The raw stream: every stored event message of these actors, in stream order. */
async function stored(actorIds: string[]): Promise<StoredEventMsg[]> {
  const all = await readStoredEvents(nc, subjects.stream, await lastSequence(nc, subjects.stream));
  return all.filter((s) => actorIds.includes(s.actorId));
}

const versionsOf = (msgs: StoredEventMsg[], actorId: string) => msgs.filter((m) => m.actorId === actorId).map((m) => m.version);
const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

const transact = (appends: { actorId: string; events: Event[] }[], timeout = 10_000) =>
  request(nc, "eventstore.transact", { appends }, timeout);

it(`stores none of a ${ACTORS}-actor, ${ACTORS * EVENTS_PER_ACTOR}-event transaction whose service is killed half-way, and the retry stores all`, async () => {
  // The stop races the service's own progress. An attempt whose commit got out first says nothing
  // about a half-way batch (it must then have stored all of it) and is made again with new actors.
  for (let attempt = 1; ; attempt++) {
    const victim = await service();
    const { actors, appends } = await prepare();
    const ids = actors.map((a) => a.actorId);
    const { seen, halfway } = watchBatch(ids, HALFWAY);
    const pending = transact(appends, 3000).catch((e: unknown) => e);
    await halfway;
    // Frozen before its commit, the process can send nothing more; then it is killed.
    victim.process.kill("SIGSTOP");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sentBeforeKill = seen.messages;
    await victim.kill();
    watch?.unsubscribe();
    const total = ACTORS * EVENTS_PER_ACTOR;
    if (seen.committed) {
      const after = await stored(ids);
      for (const a of actors) expect(versionsOf(after, a.actorId)).toEqual(oneTo(a.prior + EVENTS_PER_ACTOR));
      expect(attempt, "every attempt committed before the process could be stopped").toBeLessThan(3);
      continue;
    }
    // The batch was interrupted past several actors' events, not before the first or after the last.
    expect(sentBeforeKill).toBeGreaterThanOrEqual(HALFWAY);
    expect(sentBeforeKill).toBeLessThan(total);
    expect(seen.subjects.size).toBeGreaterThanOrEqual(4);

    // Every actor holds what it held before: its prior events, none of the transaction's.
    const expectUntouched = async () => {
      const now = await stored(ids);
      for (const a of actors) expect(versionsOf(now, a.actorId)).toEqual(oneTo(a.prior));
    };
    await expectUntouched();
    // past the server's batch timeout, the abandoned batch is gone for good
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await expectUntouched();
    expect(await pending).toBeInstanceOf(Error);

    // A cold process takes the retry: everything is stored, once, in one run of sequences.
    await service();
    const retry = await transact(appends);
    expect(retry.code).toBe(0);
    const reply = retry.body as {
      appends: { actorId: string; fromVersion: number; toVersion: number; sequences: number[] }[];
      duplicate: boolean;
    };
    expect(reply.duplicate).toBe(false);
    expect(reply.appends.map((a) => [a.actorId, a.fromVersion, a.toVersion])).toEqual(
      actors.map((a) => [a.actorId, a.prior + 1, a.prior + EVENTS_PER_ACTOR]),
    );
    const after = await stored(ids);
    for (const a of actors) expect(versionsOf(after, a.actorId)).toEqual(oneTo(a.prior + EVENTS_PER_ACTOR));
    const transaction = after.filter((m) => appends.some((a) => a.events.some((e) => e.id === m.id)));
    expect(transaction.map((m) => m.id)).toEqual(appends.flatMap((a) => a.events.map((e) => e.id)));
    const sequences = reply.appends.flatMap((a) => a.sequences);
    expect(transaction.map((m) => m.seq)).toEqual(sequences);
    expect(sequences).toEqual(sequences.map((_, i) => sequences[0]! + i));

    // and a second retry is answered as the duplicate it is, with the same sequences
    const again = await transact(appends);
    expect(again).toMatchObject({ code: 0, body: { ...reply, duplicate: true } });
    expect(await stored(ids)).toEqual(after);
    return;
  }
}, 120_000);
