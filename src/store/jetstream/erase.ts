import { toEventStoreError, UnavailableError } from "../../errors.js";
import { isWrongLastSequence } from "../../jetstream/codes.js";
import { publish } from "../../jetstream/publish.js";
import { purge } from "../../jetstream/streams.js";
import type { EraseResponse } from "../../schemas/types.js";
import { Headers } from "../../subjects.js";
import { tombstone } from "../write.js";
import type { Replica } from "./replica.js";
import { MAX_WRITE_ATTEMPTS } from "./write.js";

/**
 * The tombstone is published with the actor's expectation before anything is deleted: a save
 * racing the erase lands before it (and goes with the rest) or meets the tombstone (410). Then the
 * subject is purged but for the tombstone, and the snapshots. A crash between the steps leaves a
 * tombstone that the next erase finds and finishes from.
 */
export async function erase(replica: Replica, actorId: string, reason?: string): Promise<EraseResponse> {
  const generation = replica.generation;
  const { subjects, requester } = replica;
  const subject = subjects.events(actorId);
  for (let attempt = 1; ; attempt++) {
    const head = await replica.freshHead(actorId, generation);
    let { erasedAt, seq } = head;
    if (erasedAt === undefined) {
      const stone = tombstone(actorId, head.version, reason);
      try {
        const headers = { [Headers.version]: String(head.version), [Headers.erased]: stone.erasedAt };
        seq = (await publish(requester, subject, stone.json, { lastSubjectSeq: head.seq, headers })).seq;
        erasedAt = stone.erasedAt;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw toEventStoreError(replica.seen(err));
        if (attempt >= MAX_WRITE_ATTEMPTS) throw new UnavailableError(`actor ${JSON.stringify(actorId)} is under heavy contention; retry`);
        continue;
      }
    }
    replica.remember(actorId, { version: head.version, seq, erasedAt }, generation);
    replica.indexes.forget(actorId);
    const erasedEvents = await purge(requester, subjects.stream, subject, 1);
    const erasedSnapshots = await purge(requester, subjects.snapshotsStream, subjects.snapshots(actorId));
    return { actorId, version: head.version, erasedEvents, erasedSnapshots, erasedAt };
  }
}
