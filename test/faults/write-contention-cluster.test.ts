import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { UnavailableError, VersionConflictError } from "../../src/contract/errors.js";
import { Subjects } from "../../src/contract/subjects.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import { createLogger } from "../../src/server/logger.js";
import { ensureStreams } from "../../src/server.js";
import { event } from "../harness/events.js";
import { type NatsCluster, startNatsCluster } from "../harness/nats-cluster.js";
import { decodePage } from "../harness/pages.js";

// Writers racing on one actor of an R3 stream. The leader refuses an expectation on a subject
// whose previous write it has not applied yet ("wrong last sequence unknown"), and the head read
// back is then unchanged: a write that asks again at once keeps meeting the same write in flight.
// Every save must end as stored or as a conflict, never as "unavailable".

const subjects = new Subjects("CONTEND");
const SAVES = 1500;
const WRITERS = 8;
let cluster: NatsCluster;
const connections: NatsConnection[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  // One connection per node: writes reach the leader directly and through the other nodes.
  for (const node of cluster.nodes) connections.push(await connect({ servers: node.url }));
  await ensureStreams(
    await jetstreamManager(connections[0]!),
    { subjects, replicas: 3, snapshotsKeep: 1, atomicBatch: true },
    createLogger("silent"),
  );
  await cluster.replicasCurrent(subjects.stream);
}, 120_000);

afterAll(async () => {
  for (const nc of connections) await nc.close();
  await cluster?.stop();
});

it(`answers ${SAVES} contended saves on one actor of an R3 stream with no 503`, async () => {
  const actorId = `contended-${randomUUID()}`;
  const stores = connections.map(
    (nc) => new JetStreamEventStore(nc, { subjects, cacheSize: 100, timeoutMs: 5000, atomicBatch: true, replicas: 3 }),
  );
  const outcomes = { stored: 0, conflicts: 0, unavailable: 0 };
  const writer = async (n: number) => {
    const store = stores[n % stores.length]!;
    let version = await store.version(actorId);
    while (outcomes.stored < SAVES) {
      try {
        version = (await store.save(event(actorId, version + 1))).version;
        outcomes.stored++;
      } catch (err) {
        if (err instanceof VersionConflictError) outcomes.conflicts++;
        else if (err instanceof UnavailableError) outcomes.unavailable++;
        else throw err;
        version = await store.version(actorId);
      }
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, n) => writer(n)));
  for (const store of stores) store.close();
  expect(outcomes.conflicts).toBeGreaterThan(0);
  expect(outcomes).toMatchObject({ unavailable: 0 });
  // Each stored save went after the one before: the history is 1..n without gaps.
  const stored = decodePage(await stores[0]!.events(actorId, { maxBytes: 8 << 20 })).events.map((e) => e.version);
  expect(stored).toEqual(Array.from({ length: stored.length }, (_, i) => i + 1));
  expect(stored.length).toBeGreaterThanOrEqual(SAVES);
}, 300_000);
