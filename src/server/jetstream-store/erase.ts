import { UnavailableError } from "../../contract/errors.js";
import { isWrongLastSequence } from "../../contract/nats-failures.js";
import type { EraseResponse } from "../../contract/types.js";
import { eraseMessage } from "../jetstream/message-delete.js";
import { publish } from "../jetstream/publish.js";
import { tombstone } from "../store/tombstone.js";
import { tombstoneHeaders } from "./message-headers.js";
import { Races } from "./races.js";
import type { StreamsView } from "./streams-view.js";

// Message deletes in flight at once. The server overwrites a message by rewriting its block (up
// to 8 MB), one delete after another in its JetStream API queue: a few in flight hide the round
// trips, more would only make every other API request (reads through the leader, stream info)
// wait behind them.
const DELETES_IN_FLIGHT = 4;

/**
 * The tombstone is published with the actor's expectation before anything is deleted: a save
 * racing the erase lands before it (and goes with the rest) or meets the tombstone (410). Then
 * every other message of the actor's subject, and its snapshots, are deleted one by one with
 * overwriting: a purge would leave their bytes in the store's files. A crash at any point leaves
 * the tombstone, which the next erase finds and finishes from; what it deleted is counted by the
 * erase that deleted it.
 */
export async function erase(view: StreamsView, actorId: string, reason?: string): Promise<EraseResponse> {
  const generation = view.generation;
  const { subjects, requester } = view;
  const subject = subjects.events(actorId);
  const races = new Races(() => new UnavailableError(`actor ${JSON.stringify(actorId)} is under heavy contention; retry`));
  for (;;) {
    const head = await view.freshHead(actorId, generation);
    let { erasedAt, seq } = head;
    if (erasedAt === undefined) {
      const stone = tombstone(actorId, head.version, reason);
      // The head must be of the stream as it is now (see StreamIdentity): nothing awaited between here and the publish.
      await sameStream(view, generation);
      try {
        const headers = tombstoneHeaders(head.version, stone.erasedAt);
        seq = (await publish(requester, subject, stone.json, { lastSubjectSeq: head.seq, headers })).seq;
        erasedAt = stone.erasedAt;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw view.seen(err);
        races.lost();
        continue;
      }
    }
    view.remember(actorId, { version: head.version, seq, erasedAt }, generation);
    view.indexes.forget(actorId);
    const erasedEvents = await eraseAll(view, subjects.stream, await eventSeqsBefore(view, subject, seq, generation), generation);
    const erasedSnapshots = await eraseSnapshots(view, actorId, generation);
    return { actorId, version: head.version, erasedEvents, erasedSnapshots, erasedAt };
  }
}

/**
 * Deletes every snapshot of the actor with overwriting, newest first (there are few: the stream
 * keeps a bounded number per actor); resolves to how many this call deleted. Also what a snapshot
 * save does that finds it raced an erase. It asks only for the subject's last message, which the
 * JetStream identity may read.
 */
export async function eraseSnapshots(view: StreamsView, actorId: string, generation: number): Promise<number> {
  const subject = view.subjects.snapshots(actorId);
  let erased = 0;
  for (;;) {
    const last = await view.snapshots.current(subject).catch((err) => {
      throw view.seen(err);
    });
    if (!last) return erased;
    erased += await eraseAll(view, view.subjects.snapshotsStream, [last.seq], generation);
  }
}

/** The sequences of the events subject's messages before `untilSeq` (the tombstone's), in order. */
async function eventSeqsBefore(view: StreamsView, subject: string, untilSeq: number, generation: number): Promise<number[]> {
  const seqs: number[] = [];
  await view.events
    .scan(subject, 1, untilSeq, (msg) => {
      if (msg.seq >= untilSeq) return false;
      seqs.push(msg.seq);
      return true;
    })
    .catch((err) => {
      throw view.seen(err);
    });
  await sameStream(view, generation);
  return seqs;
}

/** Deletes these messages with overwriting, a few at a time; resolves to how many were still there. */
async function eraseAll(view: StreamsView, stream: string, seqs: readonly number[], generation: number): Promise<number> {
  let next = 0;
  let erased = 0;
  const worker = async () => {
    while (next < seqs.length) {
      const seq = seqs[next++]!;
      // A sequence means another message in a stream that was deleted and created again.
      await sameStream(view, generation);
      try {
        if (await eraseMessage(view.requester, stream, seq)) erased++;
      } catch (err) {
        throw view.seen(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(DELETES_IN_FLIGHT, seqs.length) }, worker));
  return erased;
}

/**
 * Fails when the stream is no longer the one the erase learned its sequences from. After a pause
 * or stall the replica has not heard of a replacement yet, so it looks at the streams first.
 */
async function sameStream(view: StreamsView, generation: number): Promise<void> {
  if (!view.trusts(generation)) await view.confirmStreams();
  if (view.generation !== generation) throw new UnavailableError("the stream was replaced during the erase; erase again");
}
