import { readFileSync } from "node:fs";
import { type NamedEndpointStats, Svcm } from "@nats-io/services";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";
import { lastSequence } from "../harness/stored-events.js";

// CI saves to this many distinct actors; scripts/soak-actors.mjs runs the same test with 1,000,000.
const ACTORS = Number(process.env.SOAK_ACTORS ?? 50_000);
const CACHE_SIZE = Number(process.env.SOAK_CACHE_SIZE ?? 1000);
const IN_FLIGHT = 128;
const SAMPLES = 20;
// Growth allowed between the second quarter of the run and its end. A cache that kept every actor
// would hold 1,000,000 entries (well over 100 MB) by the end of the soak run.
const RSS_SLACK_MB = 64;

let server: NatsServer;
let service: ServiceProcess;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  service = await startServiceProcess(server.url, { EVENTSTORE_CACHE_SIZE: String(CACHE_SIZE), EVENTSTORE_STREAM: "ACTORS" });
  nc = await connect({ servers: server.url, noAsyncTraces: true });
});

afterAll(async () => {
  await nc?.close();
  await service?.kill();
  await server?.stop();
});

/** The service process's resident memory in MB, from /proc (Linux). */
function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"))!;
  return Math.round(Number(line.split(/\s+/)[1]) / 1024);
}

async function saveStats(): Promise<{ cache_hits: number; cache_misses: number }> {
  const replies = await new Svcm(nc).client({ strategy: "stall", stall: 300, maxWait: 5000 }).stats("eventstore");
  for await (const s of replies) {
    const save = (s.endpoints ?? []).find((e) => e.name === "save") as NamedEndpointStats & {
      data: { cache_hits: number; cache_misses: number };
    };
    return save.data;
  }
  throw new Error("no STATS reply");
}

const actorId = (n: number) => `actor-${n}`;

it(
  `keeps the version cache at EVENTSTORE_CACHE_SIZE=${CACHE_SIZE} and the service's memory flat over ${ACTORS} actors`,
  async () => {
    const client = new EventStoreClient(nc, { timeoutMs: 10_000, retry: { attempts: 20 } });
    const curve: { actors: number; rssMb: number }[] = [{ actors: 0, rssMb: rssMb(service.process.pid!) }];
    const started = Date.now();
    let next = 0;
    const worker = async () => {
      while (next < ACTORS) {
        const n = next++;
        await client.save({ id: `e-${n}-1`, eventType: "Created", actorId: actorId(n), version: 1, data: { n } });
        if ((n + 1) % Math.ceil(ACTORS / SAMPLES) === 0) curve.push({ actors: n + 1, rssMb: rssMb(service.process.pid!) });
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const seconds = (Date.now() - started) / 1000;
    console.log(
      JSON.stringify({ actors: ACTORS, cacheSize: CACHE_SIZE, seconds, savesPerSecond: Math.round(ACTORS / seconds), rssCurve: curve }),
    );
    expect(await lastSequence(nc, "ACTORS")).toBe(ACTORS);

    // The first actor fell out of the cache long ago; the last one is still in it.
    const before = await saveStats();
    await client.save({ id: "e-0-2", eventType: "Renamed", actorId: actorId(0), version: 2, data: {} });
    const afterOldest = await saveStats();
    await client.save({ id: `e-${ACTORS - 1}-2`, eventType: "Renamed", actorId: actorId(ACTORS - 1), version: 2, data: {} });
    const afterNewest = await saveStats();
    expect(afterOldest.cache_misses - before.cache_misses).toBe(1);
    expect(afterNewest.cache_hits - afterOldest.cache_hits).toBe(1);

    const quarter = Math.floor(curve.length / 4);
    const plateau = Math.max(...curve.slice(quarter, 2 * quarter).map((s) => s.rssMb));
    const end = Math.max(...curve.slice(-quarter).map((s) => s.rssMb));
    expect(end - plateau, `RSS ${plateau} MB at a quarter of the run, ${end} MB at its end`).toBeLessThan(RSS_SLACK_MB);
  },
  60_000 + ACTORS * 2,
);
