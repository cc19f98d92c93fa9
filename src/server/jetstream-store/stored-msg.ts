import type { MsgHdrs } from "@nats-io/transport-node";
import { InternalError } from "../../contract/errors.js";
import { Headers } from "../../contract/subjects.js";
import type { MessageCodec } from "../jetstream/reader.js";

/** One stored event, snapshot or tombstone as a direct get or the stream leader returns it. */
export interface StoredMsg {
  seq: number;
  subject: string;
  version: number;
  data: Uint8Array;
  /** Set on an erased actor's tombstone: when it was erased. */
  erasedAt?: string;
}

/** A sequence the caller believed to hold an actor's event no longer does (deleted, purged, recreated). */
export class StaleIndexError extends Error {
  override readonly name = "StaleIndexError";
}

/** How the store's messages read: the version each carries, which the index expects at its sequence. */
export const storedMsgs: MessageCodec<StoredMsg, number> = {
  decode(seq: number, subject: string, h: MsgHdrs | undefined, data: Uint8Array): StoredMsg {
    const version = Number(h?.get(Headers.version));
    const erasedAt = h?.get(Headers.erased) || undefined;
    // A tombstone keeps the version its actor had reached: 0 for an actor erased before any event.
    if (!Number.isSafeInteger(version) || version < (erasedAt ? 0 : 1)) {
      // Skipping it would silently hide part of an actor's history: refuse to answer instead.
      throw new InternalError(`message ${seq} on ${subject} has no valid ${Headers.version} header: not written by eventstore`);
    }
    return erasedAt ? { seq, subject, version, data, erasedAt } : { seq, subject, version, data };
  },
  assume: (seq, subject, version, data) => ({ seq, subject, version, data }),
  holds: (msg, version) => msg.version === version,
  headersHold: (h, version) => Number(h?.get(Headers.version)) === version,
  changed: (message) => new StaleIndexError(message),
};

/**
 * Any message of the events stream as a read of the whole log meets it: an event, a tombstone, a
 * tag link or a guard message; nothing is refused, the reader looks at the subject and `erased`.
 */
export interface LogMsg {
  seq: number;
  subject: string;
  data: Uint8Array;
  /** A tombstone (header Eventstore-Erased): not an event. */
  erased: boolean;
}

/**
 * How the log read decodes messages: as they are. It expects nothing at a sequence (it reads by
 * position and subject, never by an index), so it only reads with at, lastUpTo, range and current.
 */
export const logMsgs: MessageCodec<LogMsg, undefined> = {
  decode: (seq, subject, h, data) => ({ seq, subject, data, erased: !!h?.get(Headers.erased) }),
  assume: () => {
    throw new InternalError("the log reader reads no index: it has nothing to assume");
  },
  holds: () => true,
  headersHold: () => true,
  changed: (message) => new StaleIndexError(message),
};
