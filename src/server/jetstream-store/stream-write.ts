import { setTimeout as sleep } from "node:timers/promises";
import { nuid } from "@nats-io/transport-node";
import { UnavailableError } from "../../contract/errors.js";
import {
  isBatchTooLarge,
  isKnownBatchMsgId,
  isMsgIdInProcess,
  isTooManyBatchesInFlight,
  isWrongLastSequence,
} from "../../contract/nats-failures.js";
import type { Event } from "../../contract/types.js";
import { type BatchMessage, publishAtomicBatch } from "../jetstream/batch.js";
import { observed } from "../jetstream/observer.js";
import { publish, publishHeaders } from "../jetstream/publish.js";
import { CATCH_UP_PAUSE_MS } from "../jetstream/reader.js";
import { conditionCheck } from "../store/condition.js";
import { type ActorDecision, decide, decideAll, type Head, type StoredVersion, versionsToCompare } from "../store/decide.js";
import { type Encoded, messageId, storedEventId } from "../store/encode.js";
import { checkBatchMessages, serverBatchLimitError } from "../store/rules.js";
import type * as write from "../store/write.js";
import { answer } from "../store/write.js";
import { checkGuards, type ExpectedGuard, guardCandidateTags, planGuards } from "./conditions.js";
import { versionHeader } from "./message-headers.js";
import { Races } from "./races.js";
import { firstAfter } from "./seq-index.js";
import { StaleIndexError, type StoredMsg } from "./stored-msg.js";
import type { FreshHead, StreamsView } from "./streams-view.js";
import type { TagHead } from "./tag-heads.js";
import { type BatchLayout, layOutBatch } from "./tag-layout.js";
import { encodeTagLink, nextTagLink, type PreviousLink, previousFromStored, shiftPrevious, type TagLink } from "./tag-link.js";

// A replicated stream refuses an expectation on a subject while an earlier write to it is still
// being stored ("wrong last sequence unknown"), and the head read back does not show that write
// yet: asking again at once meets the same write. The write waits for it instead, with a pause
// that starts here and doubles up to MAX_IN_FLIGHT_PAUSE_MS (jittered, so that waiting writers do
// not ask again together), for at most the JetStream timeout in all. Waiting is not a race lost.
const IN_FLIGHT_PAUSE_MS = 5;
const MAX_IN_FLIGHT_PAUSE_MS = 200;

/** One actor's part of a write, and what the write knows of its head. */
interface ActorPart {
  readonly actorId: string;
  readonly subject: string;
  readonly entry: write.WriteEntry;
  /** Its events as decided on, in version order. */
  readonly values: Event[];
  head: FreshHead;
  /** The head was read from the stream during this write, not taken from the cache. */
  fresh: boolean;
  /** Neither read nor remembered: taken to be empty until JetStream says otherwise (see GUESSES). */
  guessed: boolean;
}

/** A tag the write carries or its condition may guard on, and what the write knows of its last link. */
interface TagPart {
  head: TagHead;
  /** Read from the stream during this write, not taken from the cache. */
  fresh: boolean;
  /** Neither read nor remembered: taken to have no link yet until JetStream says otherwise. */
  guessed: boolean;
}

// GUESSES. An actor or a tag this replica does not remember is most often new. Its write expects an empty
// subject (sequence 0) instead of reading the subject first: one round trip fewer for every new
// actor and tag. A wrong guess costs a refused publish, then the head is read and the write decided
// as always; nothing is decided on a guess, since JetStream checks every expectation.

/**
 * One write of one or more actors' events: stored after the heads the stream has now, or decided
 * against what it holds (a retry of the same events, or a conflict). Each actor's first message
 * carries the expectation that its history ends at its head, and the server enforces every one.
 */
export function jetStreamWrite(view: StreamsView): write.Write {
  return async (entries, counters, kind, condition) => {
    let generation = view.generation;
    // Nothing is read before the first attempt: every head is remembered or guessed (GUESSES).
    // One literal with every field: properties added after a spread made these objects V8's slow
    // kind, a third of this function's own time in a save's profile.
    const parts: ActorPart[] = entries.map((entry) => {
      const { actorId } = entry;
      const cached = view.cachedHead(actorId);
      if (cached) counters.cacheHits++;
      else counters.cacheMisses++;
      return {
        actorId,
        entry,
        subject: view.subjects.events(actorId),
        values: entry.events.map((x) => x.value),
        head: cached ?? { version: 0, seq: 0 },
        fresh: false,
        guessed: cached === undefined,
      };
    });
    // v3: the tags the write carries (a link each) and those its condition may be guarded on. A
    // write with neither is sent as before (a save: one publish).
    const written = parts.some((part) => part.values.some((e) => e.tags !== undefined)) ? tagsOf(parts) : NO_TAGS;
    const tags = new Map<string, TagPart>();
    if (written.size > 0 || condition) {
      for (const tag of condition ? [...written, ...guardCandidateTags(condition.failIfEventsMatch, written)] : written) {
        const cached = view.cachedTagHead(tag);
        tags.set(tag, cached ? { head: cached, fresh: false, guessed: false } : { head: { seq: 0 }, fresh: false, guessed: true });
      }
    }
    const batched = kind.transport === "batch" || tags.size > 0;
    const refresh = async (which: (part: ActorPart) => boolean, whichTags: (part: TagPart) => boolean = () => false) => {
      await Promise.all([
        ...parts.filter(which).map(async (part) => {
          part.head = await view.freshHead(part.actorId, generation);
          part.fresh = true;
          part.guessed = false;
        }),
        ...[...tags]
          .filter(([, part]) => whichTags(part))
          .map(async ([tag, part]) => {
            part.head = await view.freshTagHead(tag, generation);
            part.fresh = true;
            part.guessed = false;
          }),
      ]);
    };
    const tagHead = (tag: string) => tags.get(tag)!.head;
    // Set once JetStream recognised an id whose event is no longer stored (deleted or purged):
    // the new write must not be taken for that one.
    let renew = false;
    // Races lost to other writers (or to deletes), and the time spent waiting for writes in flight.
    let waited = 0;
    let pause = 0;
    const races = new Races(
      () => new UnavailableError(`${entries.map((e) => JSON.stringify(e.actorId)).join(", ")}: under heavy contention; retry`),
    );
    for (;;) {
      // What this replica remembers may be behind: a write that looks like a repeat is judged on the stream.
      const stale = (part: ActorPart) => !part.fresh && part.values[0]!.version <= part.head.version;
      if (parts.some(stale)) await refresh(stale);
      let decisions: ActorDecision[];
      try {
        const compared = parts.map(({ values, head }) => versionsToCompare(values, head));
        // Most writes go after their heads and compare nothing: decided without a turn of the event loop.
        decisions = compared.every((versions) => versions.length === 0)
          ? parts.map((part) => decision(part, NOTHING_STORED))
          : await Promise.all(
              parts.map(async (part, i) => decision(part, await storedVersions(view, part.actorId, compared[i]!, part.head, generation))),
            );
      } catch (err) {
        if (!(err instanceof StaleIndexError)) throw err;
        // The history below a head changed since it was read (messages deleted, the actor erased):
        // decide again on the heads as they are now.
        races.lost();
        for (const { actorId } of entries) view.indexes.forget(actorId);
        await refresh(
          () => true,
          () => true,
        );
        continue;
      }
      const outcome = decideAll(decisions);
      // A repeat or a conflict is answered on the stream as it is now, every actor of it included.
      if (outcome.kind !== "write" && parts.some((part) => !part.fresh)) {
        await refresh((part) => !part.fresh);
        continue;
      }
      if (outcome.kind !== "write") return answer(outcome, counters, kind);
      // Only a write that would be stored goes on to its condition (store/condition.ts).
      const check = conditionCheck(outcome, condition);
      let guards: ExpectedGuard[] = [];
      if (check) {
        let position: number | undefined;
        try {
          const plan = planGuards(check.query, written, (tag) => tagHead(tag).link?.n ?? 0);
          ({ guards, position } = await checkGuards(view, plan, tagHead, check.after));
        } catch (err) {
          if (!(err instanceof StaleIndexError)) throw view.seen(err);
          // A link or event read on the way was deleted or replaced: decide again on the stream as it is now.
          races.lost();
          await refresh(
            () => true,
            () => true,
          );
          continue;
        }
        if (position !== undefined) {
          // A refusal is answered on the stream as it is now: a remembered or guessed actor head
          // may hide that this very write is stored (a retry, answered as a duplicate whatever the
          // condition says now), a cached link a newer match.
          if (parts.some((part) => !part.fresh) || [...tags.values()].some((part) => !part.fresh)) {
            await refresh(
              (part) => !part.fresh,
              (part) => !part.fresh,
            );
            continue;
          }
          return answer({ kind: "condition", position }, counters, kind);
        }
      }
      // Whatever the write learned (cached heads, heads read before a pause) must be of the stream
      // as it is now: nothing awaited between this check and the publish. See StreamIdentity.
      // nats.js sends a publish at the next microtask checkpoint, so the check waits for one: a
      // stall in the caller's own synchronous code (or in the other requests read in the same turn)
      // then falls before the check, which sees it, not between the check and the send.
      await undefined;
      if (!view.trusts(generation)) {
        await view.confirmStreams();
        races.lost();
        if (generation !== view.generation) {
          generation = view.generation;
          await refresh(
            () => true,
            () => true,
          );
        }
        continue;
      }
      const sent: Head[] = parts.map((part) => part.head);
      const sentTags = tags.size === 0 ? undefined : new Map([...tags].map(([tag, part]) => [tag, part.head.seq]));
      // A refusal of a guess is no race lost: it is how the write learns the head.
      const guessing = parts.some((part) => part.guessed) || [...tags.values()].some((part) => part.guessed);
      let refused = false;
      let busy = false;
      try {
        const ids = parts.map(({ actorId, values }) =>
          values.map((e) => messageId(actorId, e.version, e.id) + (renew ? `.${nuid.next()}` : "")),
        );
        const sequences = batched
          ? await publishBatch(view, parts, ids, sent, { tagHead, guards, written, generation, transaction: kind.transaction })
          : await publishOne(view, parts[0]!.subject, parts[0]!.entry.events[0]!, ids[0]![0]!, sent[0]!.seq);
        if (sequences) {
          for (const [i, { actorId, values }] of parts.entries()) {
            const seqs = sequences[i]!;
            view.remember(actorId, { version: values.at(-1)!.version, seq: seqs.at(-1)! }, generation);
            view.indexes.recordWrite(
              actorId,
              sent[i]!.seq,
              values.map((e) => e.version),
              seqs,
              generation,
            );
          }
          return { sequences, duplicate: false };
        }
        // JetStream had this event: what the stream holds now decides, and a new write is a new event.
        renew = true;
      } catch (err) {
        // The server checks a batch's ids before its expectations, so an id it knows may also hide a moved head.
        const idKnown = isKnownBatchMsgId(err);
        // A retry that overtook its own original on a replicated stream: the head shows the outcome soon.
        const idInProcess = isMsgIdInProcess(err);
        refused = isWrongLastSequence(err);
        // The stream takes so many atomic batches at once: the others end soon, as a write in flight does.
        busy = isTooManyBatchesInFlight(err);
        if (!refused && !idKnown && !idInProcess && !busy) {
          // The write may have been stored: forget what we knew so the retry re-reads.
          for (const { actorId } of entries) view.forgetHead(actorId);
          for (const tag of tags.keys()) view.forgetTagHead(tag);
          throw view.seen(err);
        }
        if (idInProcess) await sleep(CATCH_UP_PAUSE_MS);
        if (idKnown) renew = true;
        if (!(refused && guessing)) counters.retries++;
      }
      // A refused batch does not say whose expectation failed: read every head and tag again.
      await refresh(
        () => true,
        () => true,
      );
      const moved =
        parts.some((part, i) => part.head.seq !== sent[i]!.seq) ||
        [...tags].some(([tag, part]) => part.head.seq !== sentTags?.get(tag)) ||
        guards.some((guard) => guard.kind === "stream");
      if (refused && guessing) {
        pause = 0;
      } else if (busy || (refused && !moved)) {
        // Refused, yet nothing moved: another write of these subjects is still being stored.
        if (waited >= view.timeoutMs) throw races.giveUp();
        pause = Math.min(MAX_IN_FLIGHT_PAUSE_MS, pause === 0 ? IN_FLIGHT_PAUSE_MS : pause * 2);
        const ms = pause * (0.5 + Math.random());
        waited += ms;
        await sleep(ms);
      } else {
        races.lost();
        pause = 0;
      }
    }
  };
}

const NO_TAGS: ReadonlySet<string> = new Set();
const NOTHING_STORED: ReadonlyMap<number, StoredVersion> = new Map();

function tagsOf(parts: ActorPart[]): Set<string> {
  const tags = new Set<string>();
  for (const part of parts) for (const e of part.values) for (const tag of e.tags ?? []) tags.add(tag);
  return tags;
}

function decision({ actorId, values, head }: ActorPart, stored: ReadonlyMap<number, StoredVersion>): ActorDecision {
  return { actorId, attemptedVersion: values[0]!.version, currentVersion: head.version, decision: decide(values, head, stored) };
}

/** Publishes one event; its sequence, or undefined when JetStream took it for an event it already had. */
async function publishOne(
  view: StreamsView,
  subject: string,
  event: Encoded<Event>,
  msgId: string,
  lastSubjectSeq: number,
): Promise<number[][] | undefined> {
  const ack = await publish(view.requester, subject, event.json, { msgId, lastSubjectSeq, headers: versionHeader(event.value.version) });
  return ack.duplicate ? undefined : [[ack.seq]];
}

/** What a batch carries besides the actors' events: their tags' links and the condition's guards. */
interface BatchExtras {
  tagHead: (tag: string) => TagHead;
  guards: ExpectedGuard[];
  written: ReadonlySet<string>;
  generation: number;
  transaction: boolean;
}

/**
 * Publishes every actor's events as one atomic batch laid out by layOutBatch: each actor's events
 * (the expectation on its first), then a link per distinct tag of them (the expectation of the
 * tag's last link on its first link of the batch), then a guard message per condition guard on a
 * tag the batch does not write; a guard on the stream is an expectation on the first message.
 * Remembers each tag's new last link. Resolves to the events' sequences, per actor.
 */
async function publishBatch(view: StreamsView, parts: ActorPart[], ids: string[][], heads: Head[], x: BatchExtras): Promise<number[][]> {
  const guardMessages = x.guards.flatMap((g) => (g.kind === "tag" && !x.written.has(g.tag) ? [g] : []));
  const layout = layOutBatch(
    parts.map((part) => part.values),
    guardMessages.length,
  );
  const path = x.transaction ? "/appends" : "/events";
  checkBatchMessages({ events: layout.guardsAt - layout.links.length, links: layout.links.length, guards: guardMessages.length }, path);
  const streamGuard = x.guards.find((g) => g.kind === "stream");
  const messages: BatchMessage[] = parts.flatMap(({ entry, subject }, i) =>
    entry.events.map((e, j) => ({
      subject,
      data: e.json,
      headers: publishHeaders({
        msgId: ids[i]![j]!,
        lastSubjectSeq: j === 0 ? heads[i]!.seq : undefined,
        lastSeq: i === 0 && j === 0 ? streamGuard?.last : undefined,
        headers: versionHeader(e.value.version),
      }),
    })),
  );
  const links = tagLinks(layout, x.tagHead);
  for (const place of layout.links) {
    const first = place.previousIndex === undefined;
    messages.splice(place.index, 0, {
      subject: view.subjects.tags(place.tag),
      data: encodeTagLink(links.get(place.index)!),
      headers: publishHeaders(first ? { lastSubjectSeq: x.tagHead(place.tag).seq } : {}),
    });
  }
  for (const g of guardMessages) {
    messages.push({
      subject: view.subjects.guard,
      data: new Uint8Array(),
      headers: publishHeaders({ lastSubjectSeq: g.last, lastSubjectSeqSubject: view.subjects.tags(g.tag) }),
    });
  }
  let lastSeq: number;
  try {
    lastSeq = await observed(view.requester.observer, "batch_publish", parts[0]!.subject, () =>
      publishAtomicBatch(view.nc, messages, (subject, data, headers) => view.requester.unobserved(subject, data, headers)),
    );
  } catch (err) {
    if (isBatchTooLarge(err)) throw serverBatchLimitError(messages.length, path);
    throw err;
  }
  // A committed batch is stored as one unit, in its order: the message at index k holds first + k.
  const first = lastSeq - messages.length + 1;
  for (const place of layout.links)
    view.rememberTagHead(place.tag, { seq: first + place.index, link: links.get(place.index)! }, x.generation);
  return layout.events.map((indexes) => indexes.map((k) => first + k));
}

/** Each link of the batch by its index: chained to the tag's last stored link, or to the tag's previous link in the batch. */
function tagLinks(layout: BatchLayout, tagHead: (tag: string) => TagHead): Map<number, TagLink> {
  const links = new Map<number, TagLink>();
  for (const place of layout.links) {
    let previous: PreviousLink | undefined;
    if (place.previousIndex !== undefined) previous = shiftPrevious(links.get(place.previousIndex)!, place.index - place.previousIndex);
    else {
      const head = tagHead(place.tag);
      if (head.seq > 0) previous = previousFromStored(head.seq, head.link!);
    }
    links.set(place.index, nextTagLink(previous, place.offsets));
  }
  return links;
}

/** What the stream holds at these versions of the actor (each up to its head): sequence and exact id. */
async function storedVersions(
  view: StreamsView,
  actorId: string,
  versions: number[],
  head: FreshHead,
  generation: number,
): Promise<Map<number, StoredVersion>> {
  const found = new Map<number, StoredVersion>();
  if (versions.length === 0) return found;
  if (versions.length === 1 && versions[0] === head.version && head.json) {
    found.set(head.version, { seq: head.seq, id: storedEventId(head.json) });
    return found;
  }
  const subject = view.subjects.events(actorId);
  const seen = new Map<number, StoredMsg>();
  const index = await view.eventsIndex(actorId, head, versions[0]! - 1, seen, generation);
  const at = firstAfter(index.versions, versions[0]! - 1);
  let end = at;
  while (end < index.length && index.versions[end]! <= versions.at(-1)!) end++;
  const msgs = await view.events.fetch(subject, index.seqs.slice(at, end), index.versions.slice(at, end), seen);
  for (const msg of msgs) found.set(msg.version, { seq: msg.seq, id: storedEventId(msg.data) });
  return found;
}
