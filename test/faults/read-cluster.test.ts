import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Subjects } from "../../src/contract/subjects.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import { ensureStreams } from "../../src/server.js";
import { event as ev } from "../harness/events.js";
import { type NatsCluster, startNatsCluster } from "../harness/nats-cluster.js";
import { decodePage } from "../harness/pages.js";

// Reads on a 3-node cluster with R3 streams (issue 22, findings 3 and 10). Clients without
// credentials land in APP; SYS may ask the JetStream meta leader to step down.
const ACCOUNTS = `
accounts {
  SYS: { users: [{ user: sys, password: sys }] }
  APP: { jetstream: enabled, users: [{ user: app, password: app }] }
}
system_account: SYS
no_auth_user: app
`;
const subjects = new Subjects("EVENTS");
let cluster: NatsCluster;
let nc: NatsConnection;

const open = (conn: NatsConnection) =>
  new JetStreamEventStore(conn, { subjects, cacheSize: 1000, timeoutMs: 5000, atomicBatch: true, replicas: 3 });

beforeAll(async () => {
  cluster = await startNatsCluster(3, { include: ACCOUNTS });
  nc = await connect({ servers: cluster.urls.split(",") });
  await ensureStreams(
    await jetstreamManager(nc),
    { subjects, replicas: 3, snapshotsKeep: 1, atomicBatch: true },
    pino({ level: "silent" }),
  );
  await cluster.replicasCurrent(subjects.stream);
  await cluster.replicasCurrent(subjects.snapshotsStream);
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await cluster?.stop();
});

describe("snapshot_get on a replicated stream (finding 3)", () => {
  it("answers the snapshot just saved, and none right after an erase, through a node that does not lead", async () => {
    const leader = await cluster.leaderOf(subjects.snapshotsStream);
    const follower = cluster.nodes.find((n) => n !== leader)!;
    // direct gets sent through a node go to its own replica first: a follower's
    const fnc = await connect({ servers: follower.url });
    try {
      const store = open(fnc);
      const a = `order-${randomUUID()}`;
      const stale: [number, number | undefined][] = [];
      for (let v = 1; v <= 120; v++) {
        await store.save(ev(a, v));
        await store.saveSnapshot({ actorId: a, version: v, state: { v } });
        const got = await store.getSnapshot(a);
        if (got?.snapshot.version !== v) stale.push([v, got?.snapshot.version]);
      }
      const kept: string[] = [];
      for (let i = 0; i < 40; i++) {
        const b = `erased-${randomUUID()}`;
        await store.save(ev(b, 1));
        await store.saveSnapshot({ actorId: b, version: 1, state: { secret: "personal data" } });
        await store.erase(b);
        if (await store.getSnapshot(b)) kept.push(b);
      }
      expect(stale).toEqual([]);
      expect(kept).toEqual([]);
    } finally {
      await fnc.close();
    }
  }, 120_000);
});

describe("long reads while the JetStream meta leader is elected (finding 10)", () => {
  it("answers every long page while the meta leader steps down", async () => {
    const a = `long-${randomUUID()}`;
    const writer = open(nc);
    for (let from = 1; from <= 1000; from += 500) {
      await writer.append(
        a,
        Array.from({ length: 500 }, (_, i) => ev(a, from + i)),
      );
    }
    const all = Array.from({ length: 1000 }, (_, i) => i + 1);
    const sys = await connect({ servers: cluster.urls.split(","), user: "sys", pass: "sys" });
    let reading = true;
    let pages = 0;
    const failures: unknown[] = [];
    // a new store per read, so that every read tries to create a consumer
    const reader = async () => {
      while (reading) {
        try {
          const page = decodePage(await open(nc).events(a, { maxBytes: 1 << 20 }));
          expect(page.events.map((e) => e.version)).toEqual(all);
          pages++;
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const readers = [reader(), reader(), reader()];
    try {
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 1500));
        await sys.request("$JS.API.META.LEADER.STEPDOWN", "", { timeout: 5000 });
      }
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      reading = false;
      await Promise.all(readers);
      await sys.close();
    }
    expect(failures).toEqual([]);
    expect(pages).toBeGreaterThan(10);
  }, 120_000);
});
