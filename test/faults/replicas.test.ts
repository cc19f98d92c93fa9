import { randomUUID } from "node:crypto";
import { type NamedEndpointStats, Svcm } from "@nats-io/services";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { request } from "../harness/requests.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";
import { audit, lastSequence, readStoredEvents } from "../harness/stored-events.js";
import { expectTrueVersions, WriterLoad } from "../harness/writer-load.js";

const REPLICAS = 3;
const SERVICE_ENV = { EVENTSTORE_JS_TIMEOUT_MS: "2000" };
// $SRV requests gather replies until none has come for a moment.
const DISCOVERY = { strategy: "stall", stall: 300, maxWait: 5000 } as const;

let server: NatsServer;
const services: ServiceProcess[] = [];
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  for (let i = 0; i < REPLICAS; i++) services.push(await startServiceProcess(server.url, SERVICE_ENV));
  nc = await connect({ servers: server.url });
});

afterAll(async () => {
  await nc?.close();
  await Promise.all(services.map((s) => s.kill()));
  await server?.stop();
});

async function collect<T>(replies: Promise<AsyncIterable<T>>): Promise<T[]> {
  const out: T[] = [];
  for await (const r of await replies) out.push(r);
  return out;
}

type DomainData = { conflicts: number; duplicates: number; cache_hits: number; cache_misses: number; retries: number };

/** Each replica's STATS for one endpoint. */
async function endpointStats(endpoint: string): Promise<(NamedEndpointStats & { data: DomainData })[]> {
  const stats = await collect(new Svcm(nc).client(DISCOVERY).stats("eventstore"));
  return stats.map((s) => s.endpoints?.find((e) => e.name === endpoint) as NamedEndpointStats & { data: DomainData });
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe(`${REPLICAS} service replicas on one queue group`, () => {
  it("each answer $SRV.PING, INFO and STATS, and count conflicts per endpoint in STATS data", async () => {
    const svcm = new Svcm(nc).client(DISCOVERY);
    const ids = services.map((s) => s.logs.find((l) => l.msg === "service started")!.id as string).sort();
    expect((await collect(svcm.ping("eventstore"))).map((p) => p.id).sort()).toEqual(ids);
    expect((await collect(svcm.info("eventstore"))).map((i) => i.id).sort()).toEqual(ids);
    const before = await endpointStats("save");
    expect(before.map((s) => s.data)).toHaveLength(REPLICAS);

    const actors = Array.from({ length: 2 }, () => `account-${randomUUID()}`);
    const load = new WriterLoad(nc, { actors, writersPerActor: 5 }).start();
    await load.acknowledged(150);
    await load.stop();
    // A snapshot ahead of its actor is a conflict of snapshot_save, not of save.
    const ahead = await request(nc, "eventstore.snapshot.save", { actorId: actors[0], version: 10_000, state: {} });
    expect(ahead.code).toBe(409);

    const save = await endpointStats("save");
    const snapshotSave = await endpointStats("snapshot_save");
    const grew = (count: (d: DomainData) => number) => sum(save.map((s) => count(s.data))) - sum(before.map((s) => count(s.data)));
    expect(save.every((s) => s.num_requests > 0)).toBe(true);
    // An attempt that timed out at the client may still have been served: it is the only slack.
    const within = (n: number, low: number) =>
      expect(n >= low && n <= low + load.retries, `${n} vs ${low} + ${load.retries} retries`).toBe(true);
    within(
      grew((d) => d.conflicts),
      load.conflicts.length,
    );
    within(
      grew((d) => d.duplicates),
      load.acks.filter((a) => a.duplicate).length,
    );
    within(
      grew((d) => d.cache_hits + d.cache_misses),
      load.acks.length + load.conflicts.length,
    );
    expect(grew((d) => d.cache_hits)).toBeGreaterThan(0);
    expect(sum(snapshotSave.map((s) => s.data.conflicts))).toBe(1);
  });

  it("keeps every acknowledged save exactly once when a replica is SIGKILLed under racing writers", async () => {
    const actors = Array.from({ length: 4 }, () => `account-${randomUUID()}`);
    const load = new WriterLoad(nc, { actors, writersPerActor: 5 }).start();
    try {
      await load.acknowledged(200);
      await services[0]!.kill();
      await load.acknowledged(300);
    } finally {
      await load.stop();
    }

    expect(load.retries).toBeGreaterThan(0);
    expect(load.conflicts.length).toBeGreaterThan(0);
    expectTrueVersions(load);
    const stored = (await readStoredEvents(nc, "EVENTS", await lastSequence(nc, "EVENTS"))).filter((s) => actors.includes(s.actorId));
    const result = audit(load.acks, stored);
    console.log(
      JSON.stringify({
        replicaKilled: 1,
        acknowledged: result.acknowledged,
        duplicateAcks: load.acks.filter((a) => a.duplicate).length,
        conflicts: load.conflicts.length,
        retries: load.retries,
        lost: result.lost.length,
        duplicated: result.duplicated.length,
      }),
    );
    expect(result).toMatchObject({ lost: [], duplicated: [], unacknowledged: [], outOfOrder: [] });
    // Writers save version + 1 of what they read: each actor's history has no gaps.
    for (const actorId of actors) {
      const versions = stored.filter((s) => s.actorId === actorId).map((s) => s.version);
      expect(versions).toEqual(versions.map((_, i) => i + 1));
    }
    expect((await collect(new Svcm(nc).client(DISCOVERY).ping("eventstore"))).length).toBe(REPLICAS - 1);
  });
});
