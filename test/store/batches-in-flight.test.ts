import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Subjects } from "../../src/contract/subjects.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import { ensureStreams } from "../../src/server.js";
import { events as evs } from "../harness/events.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { decodePage } from "../harness/pages.js";

// nats-server takes a limited number of atomic batches per stream at once (50 by default) and
// refuses the next one with "too many batches in flight" (10210). That is no conflict and no
// failure: the other batches end soon, as a write in flight does, and the write waits for them.
// A server that takes one batch at a time makes concurrent appends meet the limit.

const subjects = new Subjects("INFLIGHT");
let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  const storeDir = join(mkdtempSync(join(tmpdir(), "es-inflight-")), "js");
  server = await startNatsServer({
    jetstream: false,
    config: `jetstream { store_dir: ${JSON.stringify(storeDir)}, limits { batch { max_inflight_per_stream: 1 } } }`,
  });
  nc = await connect({ servers: server.url });
  await ensureStreams(
    await jetstreamManager(nc),
    { subjects, replicas: 1, snapshotsKeep: 1, atomicBatch: true },
    pino({ level: "silent" }),
  );
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

it("stores every one of concurrent appends that meet the server's limit of batches in flight, after waiting", async () => {
  const store = new JetStreamEventStore(nc, { subjects, cacheSize: 1000, timeoutMs: 10_000, atomicBatch: true });
  try {
    // More than 100 events: the batch asks for a reply at its first message (flow control), so it
    // stays in flight for a round trip while the others start.
    const actors = Array.from({ length: 6 }, () => `inflight-${randomUUID()}`);
    const results = await Promise.allSettled(actors.map((actorId) => store.append(actorId, evs(actorId, 1, 150))));
    expect(results.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    for (const actorId of actors) {
      const page = decodePage(await store.events(actorId, { maxBytes: 1 << 20 }));
      expect(page.events.map((e) => e.version)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    }
    // Waiting is counted as a retry: the refusals happened.
    expect(store.counters.append.retries).toBeGreaterThan(0);
  } finally {
    store.close();
  }
});
