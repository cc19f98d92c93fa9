import { expect, it } from "vitest";
import { Subjects } from "../../src/contract/subjects.js";
import type { Event } from "../../src/contract/types.js";
import { useBatchCrashServer } from "../harness/fixture.js";
import { request } from "../harness/requests.js";
import { lastSequence, readStoredEvents, type StoredEventMsg } from "../harness/stored-events.js";
import { prepareTransaction } from "../harness/transactions.js";

// A transaction whose service process dies half-way through its atomic batch: the stream holds
// none of its events, for any of its actors, and the retry stores all of them.

const subjects = new Subjects("EVENTS");
const ACTORS = 8;
const EVENTS_PER_ACTOR = 100;
// Half of the actors have a history before the transaction, so that their expectations are not zero.
const PRIOR = 3;
// The batch has come this far (three actors' events and part of a fourth) when the process is stopped.
const HALFWAY = 350;

const f = useBatchCrashServer();

const prepare = () => prepareTransaction(f.nc, ACTORS, PRIOR, EVENTS_PER_ACTOR);

/** Resolves once `after` messages of batches for these actors have passed their subjects; counts what passes. */
const watchBatch = (actorIds: string[], after: number) =>
  f.watchBatch(
    new Set(actorIds.map((a) => subjects.events(a))),
    after,
    // Only the commit of the whole transaction counts: a commit earlier in it would be a bug to catch.
    (msg) => !!msg.headers?.get("Nats-Batch-Commit") && msg.headers.get("Nats-Batch-Sequence") === String(ACTORS * EVENTS_PER_ACTOR),
  );

/** The raw stream: every stored event message of these actors, in stream order. */
async function stored(actorIds: string[]): Promise<StoredEventMsg[]> {
  const all = await readStoredEvents(f.nc, subjects.stream, await lastSequence(f.nc, subjects.stream));
  return all.filter((s) => actorIds.includes(s.actorId));
}

const versionsOf = (msgs: StoredEventMsg[], actorId: string) => msgs.filter((m) => m.actorId === actorId).map((m) => m.version);
const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

const transact = (appends: { actorId: string; events: Event[] }[], timeout = 10_000) =>
  request(f.nc, "eventstore.transact", { appends }, timeout);

it(`stores none of a ${ACTORS}-actor, ${ACTORS * EVENTS_PER_ACTOR}-event transaction whose service is killed half-way, and the retry stores all`, async () => {
  // The stop races the service's own progress. An attempt whose commit got out first says nothing
  // about a half-way batch (it must then have stored all of it) and is made again with new actors.
  for (let attempt = 1; ; attempt++) {
    const victim = await f.service();
    const { actors, appends } = await prepare();
    const ids = actors.map((a) => a.actorId);
    const { seen, halfway } = watchBatch(ids, HALFWAY);
    const pending = transact(appends, 3000).catch((e: unknown) => e);
    await halfway;
    // Frozen before its commit, the process can send nothing more; then it is killed.
    const sentBeforeKill = await f.freezeAndKill(victim, seen);
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
    await f.service();
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
