import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { expect, it } from "vitest";
import { Subjects } from "../../src/contract/subjects.js";
import type { Event } from "../../src/contract/types.js";
import { useBatchCrashServer } from "../harness/fixture.js";
import { type Reply, request, untilAnswered } from "../harness/requests.js";

const subjects = new Subjects("EVENTS");
const EVENTS = 1000;
// The batch has come this far when the test stops the process or the server.
const HALFWAY = 100;
const padding = "x".repeat(100);
const largeBatch = (actorId: string): Event[] =>
  Array.from({ length: EVENTS }, (_, i) => ({
    id: randomUUID(),
    eventType: "LineAdded",
    actorId,
    version: i + 1,
    data: { line: i, padding },
  }));

const f = useBatchCrashServer();

/** Resolves once `after` messages of a batch for the actor have passed its subject; counts what passes. */
const watchBatch = (actorId: string, after: number) =>
  f.watchBatch(new Set([subjects.events(actorId)]), after, (msg) => !!msg.headers?.get("Nats-Batch-Commit"));

async function storedCount(actorId: string): Promise<number> {
  const jsm = await jetstreamManager(f.nc);
  const subject = subjects.events(actorId);
  const info = await jsm.streams.info(subjects.stream, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

const appendRequest = (actorId: string, events: Event[], timeout = 10_000) =>
  request(f.nc, "eventstore.append", { actorId, events }, timeout);

it("stores no event of a batch whose service process is killed half-way, and the retry stores all", async () => {
  // The stop races the service's own progress. An attempt whose commit got out first says nothing
  // about a half-way batch (it must then have stored all of it) and is made again.
  for (let attempt = 1; ; attempt++) {
    const victim = await f.service();
    const actorId = `order-${randomUUID()}`;
    const events = largeBatch(actorId);
    const { seen, halfway } = watchBatch(actorId, HALFWAY);
    const pending = appendRequest(actorId, events, 3000).catch((e: unknown) => e);
    await halfway;
    // Frozen before its commit, the process can send nothing more; then it is killed.
    const sentBeforeKill = await f.freezeAndKill(victim, seen);
    if (seen.committed) {
      expect(await storedCount(actorId)).toBe(EVENTS);
      expect(attempt, "every attempt committed before the process could be stopped").toBeLessThan(3);
      continue;
    }
    expect(sentBeforeKill).toBeGreaterThanOrEqual(HALFWAY);
    expect(sentBeforeKill).toBeLessThan(EVENTS);

    expect(await storedCount(actorId)).toBe(0);
    // past the server's batch timeout, the abandoned batch is gone for good
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await storedCount(actorId)).toBe(0);
    expect(await pending).toBeInstanceOf(Error);

    await f.service();
    const retry = await appendRequest(actorId, events);
    expect(retry).toMatchObject({ code: 0, body: { fromVersion: 1, toVersion: EVENTS, duplicate: false } });
    expect(await storedCount(actorId)).toBe(EVENTS);
    return;
  }
});

it("stores all or none of a batch when the nats-server is killed during it, and the retry agrees", async () => {
  await f.service();
  const actorId = `order-${randomUUID()}`;
  const events = largeBatch(actorId);
  const { halfway } = watchBatch(actorId, HALFWAY);
  const pending = appendRequest(actorId, events, 3000).catch((e: unknown) => e);
  await halfway;
  await f.server.halt("SIGKILL");
  f.server = await f.server.restart();
  const reply = await pending;
  // the service answers again once the server is back
  await untilAnswered(() => request(f.nc, "eventstore.version", { actorId }, 2000));

  const stored = await storedCount(actorId);
  expect([0, EVENTS]).toContain(stored);
  if ((reply as Reply).code === 0) expect(stored).toBe(EVENTS);

  const retry = await appendRequest(actorId, events);
  expect(retry).toMatchObject({ code: 0, body: { fromVersion: 1, toVersion: EVENTS, duplicate: stored === EVENTS } });
  expect(await storedCount(actorId)).toBe(EVENTS);
  const page = await request(f.nc, "eventstore.events", { actorId, fromVersion: EVENTS - 3 });
  expect((page.body.events as Event[]).map((e) => e.id)).toEqual(events.slice(-3).map((e) => e.id));
});
