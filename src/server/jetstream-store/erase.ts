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
 * the tag links of its events, every other message of the actor's subject, and its snapshots,
 * are deleted one by one with overwriting: a purge would leave their bytes in the store's files. A crash at any point leaves
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
    const events = await eventsBefore(view, subject, seq, generation);
    // Links first: a crash in between leaves events whose links are gone, which the next erase skips.
    await eraseAll(view, subjects.stream, await linksOf(view, events), generation);
    const erasedEvents = await eraseAll(
      view,
      subjects.stream,
      events.map((e) => e.seq),
      generation,
    );
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

/** One stored event of the actor: where it is, and the tags it carries. */
interface ActorEvent {
  seq: number;
  tags: string[];
}

/** The events subject's messages before `untilSeq` (the tombstone's), in order, with their tags. */
async function eventsBefore(view: StreamsView, subject: string, untilSeq: number, generation: number): Promise<ActorEvent[]> {
  const events: ActorEvent[] = [];
  await view.events
    .scan(subject, 1, untilSeq, (msg) => {
      if (msg.seq >= untilSeq) return false;
      const { tags } = JSON.parse(decoder.decode(msg.data)) as { tags?: string[] };
      events.push({ seq: msg.seq, tags: tags ?? [] });
      return true;
    })
    .catch((err) => {
      throw view.seen(err);
    });
  await sameStream(view, generation);
  return events;
}

const decoder = new TextDecoder();

/**
 * The tag links of the actor's events (docs/design/v3-tags-read-conditions.md, section 4). A write
 * stores an actor's events consecutively and its links right after them, one per distinct tag: so
 * for each run of consecutive event sequences the candidates are the k messages after it (k: the
 * run's distinct tags), and a candidate is the actor's link only when it is on a tag subject and
 * every event it indexes lies in the run. Anything else there (another write, a foreign message,
 * a link deleted already) is left alone.
 */
async function linksOf(view: StreamsView, events: ActorEvent[]): Promise<number[]> {
  const candidates: { seq: number; run: { first: number; last: number } }[] = [];
  for (let i = 0; i < events.length; ) {
    let j = i;
    while (j + 1 < events.length && events[j + 1]!.seq === events[j]!.seq + 1) j++;
    const run = { first: events[i]!.seq, last: events[j]!.seq };
    const k = new Set(events.slice(i, j + 1).flatMap((e) => e.tags)).size;
    for (let n = 1; n <= k; n++) candidates.push({ seq: run.last + n, run });
    i = j + 1;
  }
  const links: number[] = [];
  for (let i = 0; i < candidates.length; i += LINK_GETS_IN_FLIGHT) {
    const found = await Promise.all(
      candidates.slice(i, i + LINK_GETS_IN_FLIGHT).map(async ({ seq, run }) => {
        const msg = await view.links.at(seq).catch((err) => {
          throw view.seen(err);
        });
        const mine =
          msg?.link !== undefined &&
          msg.subject.startsWith(view.subjects.tagsPrefix) &&
          msg.link.o.every((off) => seq - off >= run.first && seq - off <= run.last);
        return mine ? [seq] : [];
      }),
    );
    links.push(...found.flat());
  }
  return links;
}

// Candidate links read at once while erasing.
const LINK_GETS_IN_FLIGHT = 32;

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
