import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { type JetStreamManager, jetstreamManager, type StoredMsg } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ConditionFailedError, UnavailableError } from "../../src/contract/errors.js";
import { Subjects } from "../../src/contract/subjects.js";
import type { Event } from "../../src/contract/types.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import { decodeTagLink } from "../../src/server/jetstream-store/tag-link.js";
import { createLogger } from "../../src/server/logger.js";
import { ensureStreams } from "../../src/server.js";
import { event } from "../harness/events.js";
import { type NatsCluster, startNatsCluster } from "../harness/nats-cluster.js";

// "Unique username" on an R3 stream through two store instances (two connections), with the
// stream leader killed while the claims race: exactly one claim per name is stored, every
// acknowledged claim is stored once, and nothing of a refused claim is.

const subjects = new Subjects("CLAIMS");
const NAMES = 20;
const CLAIMS_PER_NAME = 4;
let cluster: NatsCluster;
const connections: NatsConnection[] = [];
let jsm: JetStreamManager;

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  for (let i = 0; i < 2; i++) connections.push(await connect({ servers: cluster.urls }));
  jsm = await jetstreamManager(connections[0]!);
  await ensureStreams(jsm, { subjects, replicas: 3, snapshotsKeep: 1, atomicBatch: true }, createLogger("silent"));
  await cluster.replicasCurrent(subjects.stream);
}, 120_000);

afterAll(async () => {
  for (const nc of connections) await nc.close();
  await cluster?.stop();
});

type Outcome = { kind: "stored"; actorId: string; sequence: number } | { kind: "taken"; actorId: string };

it("stores exactly one claim per name and each acknowledged claim once, with the stream leader killed mid-race", async () => {
  const stores = connections.map(
    (nc) => new JetStreamEventStore(nc, { subjects, cacheSize: 1000, timeoutMs: 2000, atomicBatch: true, replicas: 3 }),
  );
  const names = Array.from({ length: NAMES }, () => `username:${randomUUID()}`);
  /** One claim, sent again with the same event after a 503 (its outcome unknown) until it is answered. */
  const claim = async (name: string, n: number): Promise<Outcome> => {
    await sleep(Math.random() * 1500);
    const actorId = `user-${randomUUID()}`;
    const events: Event[] = [event(actorId, 1, { eventType: "UserRegistered", tags: [name] })];
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const r = await stores[n % 2]!.append(actorId, events, undefined, { failIfEventsMatch: { items: [{ tags: [name] }] } });
        return { kind: "stored", actorId, sequence: r.sequences[0]! };
      } catch (err) {
        if (err instanceof ConditionFailedError) return { kind: "taken", actorId };
        if (!(err instanceof UnavailableError) || Date.now() > deadline) throw err;
        await sleep(100);
      }
    }
  };
  const racing = Promise.all(names.flatMap((name) => Array.from({ length: CLAIMS_PER_NAME }, (_, n) => claim(name, n))));
  await sleep(500);
  const leader = await cluster.leaderOf(subjects.stream);
  await cluster.kill(leader);
  const outcomes = await racing;
  await cluster.restart(leader);
  await cluster.replicasCurrent(subjects.stream);
  for (const s of stores) s.close();

  const last = (subject: string) =>
    jsm.streams.getMessage(subjects.stream, { last_by_subj: subject }).catch(() => null) as Promise<StoredMsg | null>;
  for (const [i, name] of names.entries()) {
    const mine = outcomes.slice(i * CLAIMS_PER_NAME, (i + 1) * CLAIMS_PER_NAME);
    const stored = mine.filter((o) => o.kind === "stored");
    expect(stored).toHaveLength(1);
    // The tag's chain holds one link: the winner's, indexing its event.
    const link = (await last(subjects.tags(name)))!;
    expect(decodeTagLink(link.data)).toMatchObject({ n: 1, p: 0 });
    expect(link.seq - decodeTagLink(link.data).o[0]!).toBe(stored[0]!.sequence);
    for (const o of mine) {
      const head = await last(subjects.events(o.actorId));
      if (o.kind === "stored") expect(head?.seq).toBe(o.sequence);
      else expect(head).toBeNull();
    }
  }
}, 300_000);
