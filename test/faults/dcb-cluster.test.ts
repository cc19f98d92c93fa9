import { randomUUID } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  expectCoursesWithinLimits,
  expectInvoiceNumbers,
  expectOneHolderAtATime,
  expectStoredOnce,
  lastPosition,
  raceCourses,
  raceInvoices,
  raceUsernames,
} from "../harness/dcb-races.js";
import { type NatsCluster, startNatsCluster, withConnection } from "../harness/nats-cluster.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";
import { readStoredEvents } from "../harness/stored-events.js";

// The three dcb.events examples raced by concurrent clients through two service replicas on a
// 3-node cluster (stream replicas 3) whose stream leader is killed (SIGKILL, not a step-down) in
// the middle of the races. The clients retry what went unanswered or got a 503 with the same
// event ids; the conditions hold across the failover, and every node stores every acknowledged
// write exactly once and nothing else.

const STREAM = "EVENTS";
const SERVICE_ENV = { EVENTSTORE_REPLICAS: "3", EVENTSTORE_JS_TIMEOUT_MS: "2000" };
// Retry a request for up to a minute, so that no example call fails during the election.
const CLIENT = { timeoutMs: 3000, retry: { attempts: 240, initialDelayMs: 25, maxDelayMs: 250 } };

let cluster: NatsCluster;
let services: ServiceProcess[] = [];
let connections: NatsConnection[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  services = [await startServiceProcess(cluster.urls, SERVICE_ENV), await startServiceProcess(cluster.urls, SERVICE_ENV)];
  connections = await Promise.all(
    [0, 1, 2].map(() => connect({ servers: cluster.urls.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 250 })),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all(connections.map((c) => c.close()));
  await Promise.all(services.map((s) => s.kill()));
  await cluster?.stop();
});

it("keeps every example's invariant, and stores every acknowledged write once on every node, when the stream leader is killed mid-race", async () => {
  const nc = connections[0]!;
  // The leader dies once this many writes have been acknowledged; it comes back once as many more have.
  const KILL_AT = 20;
  let acked = 0;
  let killed: { at: number; node: string } | undefined;
  let leaderBack: Promise<void> | undefined;
  let racesDone = false;
  const killer = async () => {
    const leader = await cluster.leaderOf(STREAM);
    await cluster.kill(leader);
    killed = { at: acked, node: leader.name };
    while (acked < killed.at + KILL_AT && !racesDone) await new Promise((r) => setTimeout(r, 20));
    await cluster.restart(leader);
  };
  const onAck = () => {
    acked++;
    if (acked === KILL_AT) leaderBack = killer();
  };
  const base = { connections, client: CLIENT, onAck };

  const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}-${randomUUID()}`);
  const names = ids("name", 3);
  // One shape where the student's limit binds, one where the course's capacity does.
  const courseShapes = [
    { courses: ids("c", 4), capacity: 8, students: ids("s", 6), maxCoursesPerStudent: 2 },
    { courses: ids("c", 2), capacity: 3, students: ids("s", 10), maxCoursesPerStudent: 5 },
  ];
  const [usernames, invoices, subscriptions] = await Promise.all([
    raceUsernames({ ...base, names, users: 8, rounds: 4 }),
    raceInvoices({ ...base, workers: 6, invoicesPerWorker: 6 }),
    Promise.all(courseShapes.map((shape) => raceCourses({ ...base, ...shape }))),
  ]);
  const races = [usernames, invoices, ...subscriptions];
  racesDone = true;
  await leaderBack;
  await cluster.replicasCurrent(STREAM);

  // The leader died with most of the races still to run, and the clients had to send requests again.
  expect(killed).toBeDefined();
  expect(killed!.at).toBeLessThan(acked / 2);
  expect(races.reduce((sum, r) => sum + r.retries, 0)).toBeGreaterThan(0);

  const userEvents = (await expectOneHolderAtATime(nc, names)).read;
  const courseEvents = [];
  for (const shape of courseShapes) courseEvents.push(...(await expectCoursesWithinLimits(nc, shape)));
  // The two course races share actor types: checked as one.
  const courseAcks = subscriptions.flatMap((r) => r.acked);
  const invoiceEvents = await expectInvoiceNumbers(nc);
  expect(invoiceEvents).toHaveLength(36);
  expect(invoices.numbers.sort((a, b) => a - b)).toEqual(invoiceEvents.map((e) => e.event.data.number));

  // Through the last acknowledged event: the stream's last message may be a tag link, which this read skips.
  const last = lastPosition(races.flatMap((r) => r.acked));
  for (const node of cluster.nodes) {
    const raw = await withConnection(node.url, (one) => readStoredEvents(one, STREAM, last));
    const ofTypes = (...types: string[]) => raw.filter((s) => types.some((t) => s.actorId.startsWith(`${t}-`)));
    expectStoredOnce(usernames.acked, userEvents, ofTypes("username"));
    expectStoredOnce(courseAcks, courseEvents, ofTypes("course", "subscription"));
    expectStoredOnce(invoices.acked, invoiceEvents, ofTypes("invoice"));
  }
  console.log(
    JSON.stringify({
      killed,
      acked,
      conditionFailures: races.map((r) => r.conditionFailures),
      retries: races.map((r) => r.retries),
      duplicates: races.map((r) => r.duplicates),
    }),
  );
}, 120_000);
