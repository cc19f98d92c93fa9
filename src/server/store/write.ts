import { ConditionFailedError, ErasedError, VersionConflictError } from "../../contract/errors.js";
import type { AppendResponse, Condition, Event, SaveResponse, TransactResponse } from "../../contract/types.js";
import type { CheckedOutcome } from "./condition.js";
import { checkStoredSize, type Encoded, encode } from "./encode.js";
import { type ActorEvents, type EventLimits, maxStoredEventBytes, type StoreCounters } from "./event-store.js";
import { checkAppendBatch, checkTransaction } from "./rules.js";

// save, append and transact are one write: events of one or more actors, all stored or none.
// A store supplies how it decides and stores them; the shapes of the write and its replies are here.

/** One actor's part of a write, each event as it will be stored. */
export interface WriteEntry {
  actorId: string;
  events: Encoded<Event>[];
}

/** Per actor, the sequences of its events (stored now, or at first when duplicate). */
export interface WriteResult {
  sequences: number[][];
  duplicate: boolean;
}

/**
 * How a write is sent, one message or one atomic batch (append and transact, which need it), and
 * whether it is a transaction, whose conflicts name every actor that is behind.
 */
export interface WriteKind {
  transport: "publish" | "batch";
  transaction: boolean;
}

/**
 * A backend's write: decide against what the stream holds, then store or answer. With a
 * `condition` (v3), a write decided `write` is stored only if the condition holds (else
 * ConditionFailedError); a duplicate stays a duplicate whatever the condition says now.
 */
export type Write = (entries: WriteEntry[], counters: StoreCounters, kind: WriteKind, condition?: Condition) => Promise<WriteResult>;

/** Each event encoded as it will be stored, and refused when no page could return it. */
function entries(
  appends: ActorEvents[],
  json: Uint8Array[][] | undefined,
  limits: EventLimits,
  path: (i: number, j: number) => string,
): WriteEntry[] {
  return appends.map(({ actorId, events }, i) => {
    const limit = maxStoredEventBytes(actorId, limits);
    return {
      actorId,
      events: events.map((e, j) => {
        const encoded = encode(e, json?.[i]?.[j]);
        checkStoredSize(encoded.json, limit, path(i, j));
        return encoded;
      }),
    };
  });
}

export async function save(
  write: Write,
  limits: EventLimits,
  counters: StoreCounters,
  event: Event,
  json?: Uint8Array,
): Promise<SaveResponse> {
  const e = entries([{ actorId: event.actorId, events: [event] }], json && [[json]], limits, () => "/");
  const { sequences, duplicate } = await write(e, counters, { transport: "publish", transaction: false });
  return { actorId: event.actorId, version: event.version, sequence: sequences[0]![0]!, duplicate };
}

export async function append(
  write: Write,
  limits: EventLimits,
  counters: StoreCounters,
  actorId: string,
  events: Event[],
  json?: Uint8Array[],
  condition?: Condition,
): Promise<AppendResponse> {
  checkAppendBatch(actorId, events);
  const e = entries([{ actorId, events }], json && [json], limits, (_, j) => `/events/${j}`);
  const { sequences, duplicate } = await write(e, counters, { transport: "batch", transaction: false }, condition);
  return { actorId, fromVersion: events[0]!.version, toVersion: events.at(-1)!.version, sequences: sequences[0]!, duplicate };
}

export async function transact(
  write: Write,
  limits: EventLimits,
  counters: StoreCounters,
  appends: ActorEvents[],
  json?: Uint8Array[][],
  condition?: Condition,
): Promise<TransactResponse> {
  checkTransaction(appends);
  const e = entries(appends, json, limits, (i, j) => `/appends/${i}/events/${j}`);
  const { sequences, duplicate } = await write(e, counters, { transport: "batch", transaction: true }, condition);
  return {
    appends: appends.map(({ actorId, events }, i) => ({
      actorId,
      fromVersion: events[0]!.version,
      toVersion: events.at(-1)!.version,
      sequences: sequences[i]!,
    })),
    duplicate,
  };
}

/**
 * What a write decided not to store answers: a duplicate's sequences, or the refusal it throws;
 * counted. A failed condition counts as a conflict: `conflicts` in STATS is the endpoint's 409s.
 */
export function answer(outcome: Exclude<CheckedOutcome, { kind: "write" }>, counters: StoreCounters, kind: WriteKind): WriteResult {
  if (outcome.kind === "erased") throw new ErasedError(outcome.actorId, outcome.erasedAt);
  if (outcome.kind === "duplicate") {
    counters.duplicates++;
    return { sequences: outcome.sequences, duplicate: true };
  }
  counters.conflicts++;
  if (outcome.kind === "condition") throw new ConditionFailedError(outcome.position);
  const [first] = outcome.conflicts;
  const conflicts = kind.transaction ? outcome.conflicts : undefined;
  throw new VersionConflictError(first!.actorId, first!.attemptedVersion, first!.currentVersion, undefined, conflicts);
}
