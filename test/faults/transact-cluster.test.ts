import type { Subscription } from "@nats-io/transport-node";
import { expect, it } from "vitest";
import { Subjects } from "../../src/contract/subjects.js";
import { useClusterService } from "../harness/fixture.js";
import { type ClusterNode, withConnection } from "../harness/nats-cluster.js";
import { type Reply, request, untilAnswered } from "../harness/requests.js";
import { lastSequence, readStoredEvents, type StoredEventMsg } from "../harness/stored-events.js";
import { prepareTransaction } from "../harness/transactions.js";

// A nats-server of a 3-node cluster killed while a transaction's atomic batch is half-way to an R3
// stream: every node holds all of the transaction's events or none of them, the reply agrees, and
// the retry completes it exactly once.

const subjects = new Subjects("EVENTS");
const STREAM = subjects.stream;
const SERVICE_ENV = { EVENTSTORE_REPLICAS: "3", EVENTSTORE_JS_TIMEOUT_MS: "2000" };
// The largest transaction the contract allows (1000 events), in many actors, so that a batch
// stopped early has already sent several actors' events and has most of it still to send.
const ACTORS = 20;
const EVENTS_PER_ACTOR = 50;
const PRIOR = 2;
// The batch has come this far (three actors' events) when the service is frozen.
const HALFWAY = 150;

const f = useClusterService(SERVICE_ENV, 120_000);

type TransactReply = { appends: { actorId: string; sequences: number[] }[]; duplicate: boolean };

const prepare = () => prepareTransaction(f.nc, ACTORS, PRIOR, EVENTS_PER_ACTOR);

/** Resolves once `after` messages of batches for these actors have passed their subjects. */
function watchBatch(actorIds: string[], after: number) {
  const watched = new Set(actorIds.map((a) => subjects.events(a)));
  const seen = { messages: 0, committed: false };
  let reached!: () => void;
  const halfway = new Promise<void>((resolve) => (reached = resolve));
  const sub: Subscription = f.nc.subscribe(subjects.eventsWildcard, {
    callback: (_err, msg) => {
      if (!watched.has(msg.subject) || !msg.headers?.get("Nats-Batch-Id")) return;
      seen.messages++;
      // Only the commit of the whole transaction counts: a commit earlier in it would be a bug to catch.
      if (msg.headers.get("Nats-Batch-Commit") && msg.headers.get("Nats-Batch-Sequence") === String(ACTORS * EVENTS_PER_ACTOR)) {
        seen.committed = true;
      }
      if (seen.messages >= after) reached();
    },
  });
  return { seen, halfway, stop: () => sub.unsubscribe() };
}

/** What each node's replica holds of these actors, in stream order. */
async function storedOnEveryNode(actorIds: string[]): Promise<Map<string, StoredEventMsg[]>> {
  const last = await lastSequence(f.nc, STREAM);
  const out = new Map<string, StoredEventMsg[]>();
  for (const node of f.cluster.nodes) {
    const all = await withConnection(node.url, (one) => readStoredEvents(one, STREAM, last));
    out.set(
      node.name,
      all.filter((s) => actorIds.includes(s.actorId)),
    );
  }
  return out;
}

const versionsOf = (msgs: StoredEventMsg[], actorId: string) => msgs.filter((m) => m.actorId === actorId).map((m) => m.version);
const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** Every actor of the transaction at its prior head ("none") or at its prior head plus the transaction ("all"); anything else throws. */
function outcome(msgs: StoredEventMsg[], actors: { actorId: string; prior: number }[]): "none" | "all" {
  const none = actors.every((a) => versionsOf(msgs, a.actorId).join() === oneTo(a.prior).join());
  const all = actors.every((a) => versionsOf(msgs, a.actorId).join() === oneTo(a.prior + EVENTS_PER_ACTOR).join());
  if (none) return "none";
  if (all) return "all";
  throw new Error(`part of a transaction is stored: ${JSON.stringify(actors.map((a) => [a.actorId, versionsOf(msgs, a.actorId).length]))}`);
}

/** Runs one transaction, freezes the service half-way through its batch, kills the node `pick` chooses, and lets the service go on. */
async function interrupted(pick: () => Promise<ClusterNode>) {
  for (let attempt = 1; ; attempt++) {
    const { actors, appends } = await prepare();
    const watch = watchBatch(
      actors.map((a) => a.actorId),
      HALFWAY,
    );
    const pending = request(f.nc, "eventstore.transact", { appends }, 20_000).catch((e: unknown) => e as Error);
    await watch.halfway;
    // Frozen, the service sends nothing more; what it sent reaches the stream before the kill.
    f.service.process.kill("SIGSTOP");
    await new Promise((resolve) => setTimeout(resolve, 300));
    // A commit that got out before the freeze says nothing about a half-way batch: try again.
    if (watch.seen.committed) {
      f.service.process.kill("SIGCONT");
      watch.stop();
      expect((await pending) as Reply).toMatchObject({ code: 0 });
      expect(attempt, "every attempt committed before the service could be frozen").toBeLessThan(5);
      continue;
    }
    const sent = watch.seen.messages;
    expect(sent).toBeGreaterThanOrEqual(HALFWAY);
    expect(sent).toBeLessThan(ACTORS * EVENTS_PER_ACTOR);
    const victim = await pick();
    await f.cluster.kill(victim);
    f.service.process.kill("SIGCONT");
    const reply = await pending;
    watch.stop();
    await f.cluster.restart(victim);
    await f.cluster.replicasCurrent(STREAM);
    return { actors, appends, reply, victim: victim.name, attempts: attempt, sent };
  }
}

for (const [kind, pick] of [
  ["the stream leader", () => f.cluster.leaderOf(STREAM)],
  [
    "a follower",
    async () => {
      const leader = await f.cluster.leaderOf(STREAM);
      return f.cluster.nodes.find((n) => n !== leader)!;
    },
  ],
] as const) {
  it(`stores all or none of a ${ACTORS}-actor, ${ACTORS * EVENTS_PER_ACTOR}-event transaction on every node when ${kind} is killed half-way, and the retry completes it once`, async () => {
    const { actors, appends, reply, victim, attempts, sent } = await interrupted(pick);
    const ids = actors.map((a) => a.actorId);

    const before = await storedOnEveryNode(ids);
    const outcomes = [...before.values()].map((msgs) => outcome(msgs, actors));
    // every node agrees, message for message
    for (const msgs of before.values()) expect(msgs).toEqual(before.get(f.cluster.nodes[0]!.name));
    const stored = outcomes[0]!;
    if (!(reply instanceof Error) && reply.code === 0) expect(stored).toBe("all");
    console.log(
      JSON.stringify({
        killed: kind,
        victim,
        attempts,
        sentBeforeKill: sent,
        reply: reply instanceof Error ? reply.message : reply.code,
        stored,
      }),
    );

    // The client's retry, through the restarted cluster: stored once, in one run of sequences, on every node.
    const retry = await untilAnswered(() => request(f.nc, "eventstore.transact", { appends }), 60_000);
    expect(retry.code).toBe(0);
    const body = retry.body as TransactReply;
    expect(body.duplicate).toBe(stored === "all");
    const sequences = body.appends.flatMap((a) => a.sequences);
    expect(sequences).toEqual(sequences.map((_, i) => sequences[0]! + i));
    const transactionIds = appends.flatMap((a) => a.events.map((e) => e.id));
    for (const [node, msgs] of await storedOnEveryNode(ids)) {
      expect(outcome(msgs, actors), node).toBe("all");
      const transaction = msgs.filter((m) => transactionIds.includes(m.id));
      expect(transaction.map((m) => m.id)).toEqual(transactionIds);
      expect(transaction.map((m) => m.seq)).toEqual(sequences);
    }
  }, 180_000);
}
