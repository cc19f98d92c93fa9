import { randomUUID } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  expectCoursesWithinLimits,
  expectInvoiceNumbers,
  expectOneHolderAtATime,
  expectStoredOnce,
  lastPosition,
  type Race,
  raceCourses,
  raceInvoices,
  raceUsernames,
  requestsPerReplica,
  untilReplicasAnswer,
} from "../harness/dcb-races.js";
import { useService } from "../harness/fixture.js";
import { lastSequence, readStoredEvents } from "../harness/stored-events.js";

// The three dcb.events examples (examples/unique-username.ts, course-subscriptions.ts,
// invoice-numbers.ts) raced by concurrent clients through two service replicas: the condition on
// each decision's query keeps the domain's rule across processes, and every write an example
// reported done is stored exactly once, at its position (read back by query and from the stream).

const f = useService({ replicas: 2 });
const STREAM = "EVENTS";
let connections: NatsConnection[] = [];

beforeAll(async () => {
  connections = await Promise.all([0, 1, 2, 3].map(() => connect({ servers: f.server.url })));
});
afterAll(async () => {
  await Promise.all(connections.map((c) => c.close()));
});

/** The event messages of these actor types stored after `since`, as the stream holds them. */
async function storedSince(since: number, actorTypes: string[], race: Race) {
  // Through the last acknowledged event: the stream's last message may be a tag link, which this read skips.
  const all = await readStoredEvents(f.nc, STREAM, lastPosition(race.acked));
  return all.filter((s) => s.seq > since && actorTypes.some((t) => s.actorId.startsWith(`${t}-`)));
}

it("unique username: one holder per name at a time, a released name is claimed again, every write stored once", async () => {
  const since = await lastSequence(f.nc, STREAM);
  const names = [0, 1, 2].map((i) => `name${i}-${randomUUID()}`);
  const race = await raceUsernames({ connections, names, users: 12, rounds: 4 });

  const { read, claims } = await expectOneHolderAtATime(f.nc, names);
  // Every name was claimed again after a release (12 users, 4 rounds each, 3 names).
  for (const n of claims) expect(n).toBeGreaterThan(1);
  expect(race.conditionFailures).toBeGreaterThan(0);
  expectStoredOnce(race.acked, read, await storedSince(since, ["username"], race));
  for (const n of await requestsPerReplica(f.nc, "append")) expect(n).toBeGreaterThan(0);
});

// Two shapes, so that each rule is the one that binds in one of them: the student's limit (many
// places, each student after more courses than the limit, all at once) and the course's capacity
// (few places, many students after each).
for (const shape of [
  { binds: "the student's limit", courses: 4, capacity: 8, students: 6, maxCoursesPerStudent: 2 },
  { binds: "the course's capacity", courses: 2, capacity: 3, students: 10, maxCoursesPerStudent: 5 },
]) {
  it(`course subscriptions, ${shape.binds} binding: no course over its capacity, no student over the limit, refusals only when full or at the limit`, async () => {
    const since = await lastSequence(f.nc, STREAM);
    const options = {
      connections,
      courses: Array.from({ length: shape.courses }, (_, i) => `c${i}-${randomUUID()}`),
      capacity: shape.capacity,
      students: Array.from({ length: shape.students }, (_, i) => `s${i}-${randomUUID()}`),
      maxCoursesPerStudent: shape.maxCoursesPerStudent,
    };
    const race = await raceCourses(options);

    const read = await expectCoursesWithinLimits(f.nc, options);
    expect(read.filter((e) => e.event.eventType === "StudentSubscribed").length).toBeGreaterThan(0);
    expect(race.conditionFailures).toBeGreaterThan(0);
    expectStoredOnce(race.acked, read, await storedSince(since, ["course", "subscription"], race));
  });
}

it("invoice numbers: 1..N in position order, no gap, no repeat, every write stored once", async () => {
  const since = await lastSequence(f.nc, STREAM);
  const race = await raceInvoices({ connections, workers: 8, invoicesPerWorker: 5 });

  const read = await expectInvoiceNumbers(f.nc);
  expect(read).toHaveLength(40);
  expect(race.numbers.sort((a, b) => a - b)).toEqual(read.map((e) => e.event.data.number));
  expect(race.conditionFailures).toBeGreaterThan(0);
  expectStoredOnce(race.acked, read, await storedSince(since, ["invoice"], race));
});

it("keeps the invariants and stores every write once while a replica is paused (SIGSTOP) in the middle of decisions", async () => {
  const since = await lastSequence(f.nc, STREAM);
  // A request that meets the paused replica times out soon and goes again, same bytes, maybe to the other one.
  const client = { timeoutMs: 500, retry: { attempts: 120, initialDelayMs: 25, maxDelayMs: 250 } };
  const paused = f.services[0]!.process;
  let pauses = 0;
  let racing = true;
  const pauser = (async () => {
    while (racing) {
      await new Promise((r) => setTimeout(r, 200));
      paused.kill("SIGSTOP");
      pauses++;
      // Longer than a client's timeout: what the replica holds is sent again while it sleeps.
      await new Promise((r) => setTimeout(r, 1000));
      paused.kill("SIGCONT");
    }
  })();
  const names = [0, 1, 2].map((i) => `name${i}-${randomUUID()}`);
  let races: [Race, Race & { numbers: number[] }];
  try {
    races = await Promise.all([
      raceUsernames({ connections, client, names, users: 12, rounds: 4 }),
      raceInvoices({ connections, client, workers: 8, invoicesPerWorker: 5 }),
    ]);
  } finally {
    racing = false;
    await pauser;
  }
  const [usernames, invoices] = races;
  // What waited for the paused replica is answered (to callers gone by now) before the checks.
  await untilReplicasAnswer(f.nc, 2);
  expect(pauses).toBeGreaterThan(0);
  expect(usernames.retries + invoices.retries).toBeGreaterThan(0);

  expectStoredOnce(usernames.acked, (await expectOneHolderAtATime(f.nc, names)).read, await storedSince(since, ["username"], usernames));
  const invoiceEvents = (await expectInvoiceNumbers(f.nc)).filter((e) => e.position > since);
  expect(invoiceEvents).toHaveLength(40);
  expectStoredOnce(invoices.acked, invoiceEvents, await storedSince(since, ["invoice"], invoices));
  console.log(
    JSON.stringify({ pauses, retries: [usernames.retries, invoices.retries], duplicates: [usernames.duplicates, invoices.duplicates] }),
  );
});
