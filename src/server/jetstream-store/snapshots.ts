import { ErasedError, UnavailableError } from "../../contract/errors.js";
import { isWrongLastSequence } from "../../contract/nats-failures.js";
import type { Snapshot, SnapshotSaveResponse } from "../../contract/types.js";
import { publish } from "../jetstream/publish.js";
import { checkStoredSize, encode } from "../store/encode.js";
import { maxStoredEventBytes, type StoreCounters, type StoredSnapshot } from "../store/event-store.js";
import { snapshotAheadError } from "../store/rules.js";
import { eraseSnapshots } from "./erase.js";
import { versionHeader } from "./message-headers.js";
import { Races } from "./races.js";
import type { StreamsView } from "./streams-view.js";

const decoder = new TextDecoder();

export async function saveSnapshot(
  view: StreamsView,
  counters: StoreCounters,
  input: Snapshot,
  json?: Uint8Array,
): Promise<SnapshotSaveResponse> {
  const { value: snapshot, json: body } = encode(input, json);
  const { actorId, version } = snapshot;
  checkStoredSize(body, maxStoredEventBytes(actorId, { maxPayload: view.maxPayload }), "/");
  const generation = view.generation;
  const eventsHead = await view.freshHead(actorId, generation);
  if (eventsHead.erasedAt !== undefined) throw new ErasedError(actorId, eventsHead.erasedAt);
  if (version > eventsHead.version) {
    counters.conflicts++;
    throw snapshotAheadError(actorId, version, eventsHead.version);
  }
  const subject = view.subjects.snapshots(actorId);
  const races = new Races(() => new UnavailableError(`snapshots of ${actorId} are under contention; retry`));
  for (;;) {
    const newest = await view.snapshots.current(subject);
    // The newest snapshot stays the last one kept, so that the per-actor bound never evicts it.
    if (newest && version < newest.version) return { actorId, version };
    // What was read must be of the streams as they are now (see StreamIdentity): nothing awaited
    // between this check and the publish.
    if (!view.trusts(generation)) await view.confirmStreams();
    if (view.generation !== generation) throw new UnavailableError("the streams were replaced during the snapshot save; retry");
    try {
      await publish(view.requester, subject, body, { lastSubjectSeq: newest?.seq ?? 0, headers: versionHeader(version) });
      // An erase that began after the check above may have deleted the snapshots before this one landed.
      const after = await view.freshHead(actorId, generation);
      if (after.erasedAt !== undefined) {
        await eraseSnapshots(view, actorId, generation);
        throw new ErasedError(actorId, after.erasedAt);
      }
      return { actorId, version };
    } catch (err) {
      if (!isWrongLastSequence(err)) throw view.seen(err);
      races.lost();
      counters.retries++;
    }
  }
}

/**
 * The newest snapshot, from the stream leader on a replicated stream (a follower may not hold the
 * latest save, or may still hold a purged one). An erased actor has none, even when an erase was
 * cut short before it purged the snapshots: the events' head is read too, after the snapshot and
 * only when there is one, so that a missing snapshot costs one read and a snapshot found is one
 * that existed while the actor was not erased.
 */
export async function getSnapshot(view: StreamsView, actorId: string): Promise<StoredSnapshot | undefined> {
  const msg = await view.snapshots.current(view.subjects.snapshots(actorId)).catch((err) => {
    throw view.seen(err);
  });
  if (!msg) return undefined;
  const head = await view.freshHead(actorId, view.generation);
  if (head.erasedAt !== undefined) return undefined;
  return { snapshot: JSON.parse(decoder.decode(msg.data)), json: msg.data };
}
