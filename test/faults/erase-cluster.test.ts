import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { expect, it } from "vitest";
import { Headers, Subjects } from "../../src/contract/subjects.js";
import { filesHolding, untilNoFileHolds } from "../harness/disk.js";
import { event } from "../harness/events.js";
import { useClusterService } from "../harness/fixture.js";
import { type ClusterNode, withConnection } from "../harness/nats-cluster.js";
import { request, untilAnswered } from "../harness/requests.js";
import { startServiceProcess } from "../harness/service-process.js";

// erase on a 3-node cluster with R3 streams: once every replica has applied it, no node holds
// anything of the erased actor but its tombstone (events) and nothing at all (snapshots), another
// actor's messages keep their sequences on every node, and the service answers as erased.

const subjects = new Subjects("EVENTS");
const SERVICE_ENV = { EVENTSTORE_REPLICAS: "3", EVENTSTORE_JS_TIMEOUT_MS: "5000", EVENTSTORE_SNAPSHOTS_KEEP: "3" };
const EVENTS = 1000;
const BATCH = 500;
const SNAPSHOT_VERSIONS = [998, 999, 1000];

const f = useClusterService(SERVICE_ENV, 90_000);

const ev = (actorId: string, version: number) => event(actorId, version, { eventType: "Named", data: { name: "Ada", version } });

/** One message as a replica holds it: everything a purge or a renumbering would change. */
interface RawMsg {
  seq: number;
  subject: string;
  headers: Record<string, string>;
  data: string;
}

/**
 * Every message of the stream on `filter`, read with batch direct gets through this connection.
 * Connected to one node only, the direct get is answered by that node's own replica (the server
 * prefers its local member of the replicas' queue group), so this is what that node holds.
 */
async function readRaw(one: NatsConnection, stream: string, filter: string): Promise<RawMsg[]> {
  const out: RawMsg[] = [];
  for (let seq = 1; ; ) {
    const replies = await one.requestMany(`$JS.API.DIRECT.GET.${stream}`, JSON.stringify({ seq, next_by_subj: filter, batch: 1000 }), {
      strategy: "sentinel",
      maxWait: 10_000,
    });
    let pending = 0;
    let got = 0;
    for await (const msg of replies) {
      if ((msg.headers?.code ?? 0) !== 0 || msg.data.length === 0) break;
      const h = msg.headers!;
      const headers: Record<string, string> = {};
      for (const k of h.keys()) if (!["Nats-Num-Pending", "Nats-Last-Sequence", "Nats-Time-Stamp"].includes(k)) headers[k] = h.get(k);
      out.push({ seq: Number(h.get("Nats-Sequence")), subject: h.get("Nats-Subject"), headers, data: new TextDecoder().decode(msg.data) });
      pending = Number(h.get("Nats-Num-Pending") || "0");
      got++;
    }
    if (got === 0 || pending === 0) return out;
    seq = out.at(-1)!.seq + 1;
  }
}

interface NodeView {
  events: RawMsg[];
  snapshots: RawMsg[];
}

/** What one node's replicas of both streams hold. */
const viewOf = (url: string): Promise<NodeView> =>
  withConnection(url, async (one) => ({
    events: await readRaw(one, subjects.stream, subjects.eventsWildcard),
    snapshots: await readRaw(one, subjects.snapshotsStream, subjects.snapshotsWildcard),
  }));

/**
 * Waits until both streams' replicas are current, then reads every node until `settled` accepts
 * its view: a replica reported current may still be applying the last entries. On the deadline
 * it returns the last views, for the assertions to show what differs.
 */
async function everyNode(settled: (v: NodeView) => boolean): Promise<Map<string, NodeView>> {
  await f.cluster.replicasCurrent(subjects.stream);
  await f.cluster.replicasCurrent(subjects.snapshotsStream);
  const views = new Map<string, NodeView>();
  for (const node of f.cluster.nodes) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const view = await viewOf(node.url);
      views.set(node.name, view);
      if (settled(view) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return views;
}

const ok = async (subject: string, body: unknown) => {
  const r = await untilAnswered(() => request(f.nc, subject, body, 20_000));
  expect(r, `${subject} ${JSON.stringify(r.body).slice(0, 300)}`).toMatchObject({ code: 0 });
  return r;
};

it("erases an actor of 1,000 events and 3 snapshots from every node of an R3 cluster, leaving another actor's messages at their sequences", async () => {
  const actorId = `person-${randomUUID()}`;
  const other = `person-${randomUUID()}`;
  const actorEvents = subjects.events(actorId);
  const actorSnapshots = subjects.snapshots(actorId);
  const otherEvents = subjects.events(other);
  const otherSnapshots = subjects.snapshots(other);

  // The other actor's messages before, between and after the erased actor's, in both streams.
  await ok("eventstore.save", ev(other, 1));
  for (let from = 1; from <= EVENTS; from += BATCH) {
    await ok("eventstore.append", { actorId, events: Array.from({ length: BATCH }, (_, i) => ev(actorId, from + i)) });
    await ok("eventstore.save", ev(other, (from - 1) / BATCH + 2));
  }
  await ok("eventstore.snapshot.save", { actorId: other, version: 1, state: { n: 1 } });
  for (const version of SNAPSHOT_VERSIONS) await ok("eventstore.snapshot.save", { actorId, version, state: { version } });
  await ok("eventstore.snapshot.save", { actorId: other, version: 3, state: { n: 3 } });

  const count = (msgs: RawMsg[], subject: string) => msgs.filter((m) => m.subject === subject).length;
  const written = (v: NodeView) =>
    count(v.events, actorEvents) === EVENTS &&
    count(v.snapshots, actorSnapshots) === SNAPSHOT_VERSIONS.length &&
    count(v.events, otherEvents) === 3 &&
    count(v.snapshots, otherSnapshots) === 2;
  const before = await everyNode(written);
  const reference = before.get(f.cluster.nodes[0]!.name)!;
  for (const [node, view] of before) {
    // every node holds all of it, message for message: the reads below see each replica
    expect(written(view), node).toBe(true);
    expect(view, node).toEqual(reference);
  }
  const othersOf = (v: NodeView) => ({
    events: v.events.filter((m) => m.subject === otherEvents),
    snapshots: v.snapshots.filter((m) => m.subject === otherSnapshots),
  });
  const otherBefore = othersOf(reference);
  const lastActorSeq = reference.events.filter((m) => m.subject === actorEvents).at(-1)!.seq;

  const erased = await ok("eventstore.erase", { actorId, reason: "customer request" });
  expect(erased.body).toEqual({
    actorId,
    version: EVENTS,
    erasedEvents: EVENTS,
    erasedSnapshots: SNAPSHOT_VERSIONS.length,
    erasedAt: expect.any(String),
  });
  const erasedAt = erased.body.erasedAt as string;

  const gone = (v: NodeView) =>
    count(v.events, actorEvents) === 1 &&
    count(v.snapshots, actorSnapshots) === 0 &&
    v.events.every((m) => !m.data.includes(actorId) || m.subject === actorEvents) &&
    v.snapshots.every((m) => !m.data.includes(actorId));
  const after = await everyNode(gone);
  let tombstoneSeq = 0;
  for (const [node, view] of after) {
    const left = view.events.filter((m) => m.subject === actorEvents || m.data.includes(actorId));
    expect(left, node).toHaveLength(1);
    const [stone] = left;
    expect(stone!.subject, node).toBe(actorEvents);
    expect(stone!.seq, node).toBeGreaterThan(lastActorSeq);
    expect(stone!.headers[Headers.erased], node).toBe(erasedAt);
    expect(stone!.headers[Headers.version], node).toBe(String(EVENTS));
    expect(JSON.parse(stone!.data), node).toEqual({ actorId, version: EVENTS, erasedAt, reason: "customer request" });
    // the same tombstone, at the same sequence, on every node
    tombstoneSeq ||= stone!.seq;
    expect(stone!.seq, node).toBe(tombstoneSeq);
    expect(
      view.snapshots.filter((m) => m.subject === actorSnapshots || m.data.includes(actorId)),
      node,
    ).toEqual([]);
    expect(othersOf(view), node).toEqual(otherBefore);
    // and nothing else was there to begin with: the streams are the other actor's messages and the tombstone
    expect(
      view.events.map((m) => m.seq).sort((a, b) => a - b),
      node,
    ).toEqual([...otherBefore.events.map((m) => m.seq), tombstoneSeq].sort((a, b) => a - b));
    expect(view.snapshots, node).toEqual(otherBefore.snapshots);
  }

  // Through the service, and through a process started after the erase that never cached the actor.
  const late = await startServiceProcess(f.cluster.urls, SERVICE_ENV);
  try {
    for (let i = 0; i < 4; i++) {
      expect((await untilAnswered(() => request(f.nc, "eventstore.version", { actorId }))).body).toEqual({
        actorId,
        version: EVENTS,
        erased: true,
      });
      expect((await untilAnswered(() => request(f.nc, "eventstore.events", { actorId }))).body).toEqual({
        actorId,
        events: [],
        hasMore: false,
        erased: true,
      });
      expect((await untilAnswered(() => request(f.nc, "eventstore.snapshot.get", { actorId }))).code).toBe(404);
      const save = await untilAnswered(() => request(f.nc, "eventstore.save", ev(actorId, EVENTS + 1)));
      expect(save).toMatchObject({ code: 410, body: { error: { actorId, erasedAt } } });
    }
    // the other actor reads as before
    expect((await untilAnswered(() => request(f.nc, "eventstore.version", { actorId: other }))).body).toEqual({
      actorId: other,
      version: 3,
    });
  } finally {
    await late.stop();
  }
}, 120_000);

it("leaves no byte of the erased events and snapshots in any file of any node once the raft logs are compacted, a node down during the erase included", async () => {
  const marker = `PII-${randomUUID()}`;
  const kept = `KEPT-${randomUUID()}`;
  const actorId = `person-${randomUUID()}`;
  const other = `person-${randomUUID()}`;
  const secret = (id: string, version: number, m: string) => event(id, version, { eventType: "Named", data: { name: `${m} Jane Doe` } });
  await ok("eventstore.save", secret(other, 1, kept));
  await ok("eventstore.append", { actorId, events: Array.from({ length: 300 }, (_, i) => secret(actorId, i + 1, marker)) });
  for (const version of [298, 299, 300]) await ok("eventstore.snapshot.save", { actorId, version, state: { name: `${marker} Jane Doe` } });
  await ok("eventstore.save", secret(other, 2, kept));
  await f.cluster.replicasCurrent(subjects.stream);
  await f.cluster.replicasCurrent(subjects.snapshotsStream);
  const storeDir = (node: ClusterNode) => join(node.dir, "js");
  for (const node of f.cluster.nodes) expect(filesHolding(storeDir(node), marker).size, node.name).toBeGreaterThan(0);

  // A node that leads neither stream is down while the erase runs, and comes back right after it.
  const leaders = [await f.cluster.leaderOf(subjects.stream), await f.cluster.leaderOf(subjects.snapshotsStream)];
  const down = f.cluster.nodes.find((n) => !leaders.includes(n)) ?? f.cluster.nodes.find((n) => n !== leaders[0])!;
  await f.cluster.kill(down);
  const erased = await ok("eventstore.erase", { actorId });
  const answered = Date.now();
  expect(erased.body).toMatchObject({ erasedEvents: 300, erasedSnapshots: 3 });
  await f.cluster.restart(down);

  // Each node's raft logs still hold the writes until that node compacts them: nats-server does
  // every 2 minutes plus up to 1 more (per stream, at random), so 4 minutes bound the wait here.
  const took: Record<string, number> = {};
  for (const node of f.cluster.nodes) {
    const result = await untilNoFileHolds(storeDir(node), marker, 240_000 - (Date.now() - answered));
    expect("left" in result ? Object.fromEntries(result.left) : {}, node.name).toEqual({});
    took[node.name] = Date.now() - answered;
  }
  console.log(
    `erased bytes gone from every file of every node (ms after the erase answered; ${down.name} was down): ${JSON.stringify(took)}`,
  );
  for (const node of f.cluster.nodes) expect(filesHolding(storeDir(node), kept).size, node.name).toBeGreaterThan(0);
}, 400_000);
