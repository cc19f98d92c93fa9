import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Subjects } from "../../src/contract/subjects.js";
import { JetStreamEventStore } from "../../src/server/jetstream-store/jetstream-event-store.js";
import { event as ev } from "../harness/events.js";
import { createV3Streams, TaggedWriter } from "../harness/log.js";
import { type NatsCluster, startNatsCluster } from "../harness/nats-cluster.js";

// The read of the whole log on a 3-node cluster with R3 streams (contract v3: a read sees every
// acknowledged write). Direct gets sent through a node go to its own replica first, which may not
// have applied the write just acknowledged: reads through a follower must still see it.
const subjects = new Subjects("LOGR3");
let cluster: NatsCluster;
let nc: NatsConnection;

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  nc = await connect({ servers: cluster.urls.split(",") });
  await createV3Streams(nc, subjects, 3);
  await cluster.replicasCurrent(subjects.stream);
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await cluster?.stop();
});

describe("read on a replicated stream", () => {
  it("sees a write just acknowledged through a node that does not lead, by tag and by scan", async () => {
    const leader = await cluster.leaderOf(subjects.stream);
    const follower = cluster.nodes.find((n) => n !== leader)!;
    const fnc = await connect({ servers: follower.url });
    try {
      const store = new JetStreamEventStore(fnc, { subjects, cacheSize: 1000, timeoutMs: 5000, atomicBatch: true, replicas: 3 });
      const writer = new TaggedWriter(fnc, subjects);
      // Other writes keep the replicas busy (on the guard subject: no event, no link), so that a
      // follower often has not applied a write yet when its acknowledgement arrives.
      let loading = true;
      const js = jetstream(nc);
      const load = Array.from({ length: 8 }, async () => {
        while (loading) await js.publish(subjects.guard, "").catch(() => {});
      });
      const missed: string[] = [];
      for (let i = 1; i <= 300; i++) {
        const actorId = `order-${i}`;
        const [position] = await writer.append(actorId, [ev(actorId, 1, { tags: ["r3", `own-${i}`] })]);
        const reads = {
          tag: await store.read({ query: { items: [{ tags: ["r3"] }] }, backwards: true, limit: 1, maxBytes: 1 << 20 }),
          ownTag: await store.read({ query: { items: [{ tags: [`own-${i}`] }] }, maxBytes: 1 << 20 }),
          scanBack: await store.read({ backwards: true, limit: 1, maxBytes: 1 << 20 }),
          scanForward: await store.read({ from: position, maxBytes: 1 << 20 }),
          type: await store.read({ query: { items: [{ types: ["Tested"] }] }, from: position, maxBytes: 1 << 20 }),
        };
        for (const [kind, page] of Object.entries(reads)) {
          if (page.entries[0]?.position !== position) missed.push(`${kind} ${i}`);
        }
      }
      loading = false;
      await Promise.all(load);
      expect(missed).toEqual([]);
      // and the whole tag, in pages, through the follower
      const all: number[] = [];
      let from: number | undefined;
      for (;;) {
        const page = await store.read({ query: { items: [{ tags: ["r3"] }] }, from, limit: 7, maxBytes: 1 << 20 });
        all.push(...page.entries.map((e) => e.position));
        if (!page.hasMore) break;
        from = page.entries.at(-1)!.position + 1;
      }
      expect(all).toEqual(writer.log.map((p) => p.position));
    } finally {
      await fnc.close();
    }
  }, 120_000);
});
