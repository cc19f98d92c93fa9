// The version rule of every write, for every backend: pure, so that it is written once and
// tested without a server.

/** The end of an actor's history as the stream holds it now. */
export interface Head {
  version: number;
  /** Stream sequence of the actor's last event; 0 when it has none. */
  seq: number;
  /** Set when the last message is the actor's tombstone: it was erased then. */
  erasedAt?: string;
}

/** What the stream holds at one version of the actor. */
export interface StoredVersion {
  seq: number;
  id: string;
}

export interface EventToWrite {
  id: string;
  version: number;
}

export type Decision =
  | { kind: "erased"; erasedAt: string }
  | { kind: "write" }
  | { kind: "duplicate"; sequences: number[] }
  | { kind: "conflict"; currentVersion: number };

/**
 * The stored versions that decide a write: none when it goes after the head, else those of the
 * write that the history has reached (a write reaching past the head cannot be a repeat).
 */
export function versionsToCompare(events: readonly EventToWrite[], head: Head): number[] {
  if (head.erasedAt !== undefined) return [];
  if (events[0]!.version > head.version || events.at(-1)!.version > head.version) return [];
  return events.map((e) => e.version);
}

/**
 * Write when the events go after the head. Otherwise the same events (each id, compared exactly,
 * at its version) are a retry, answered with their original sequences; anything else is a
 * conflict that names the actor's real current version.
 */
export function decide(events: readonly EventToWrite[], head: Head, stored: ReadonlyMap<number, StoredVersion>): Decision {
  if (head.erasedAt !== undefined) return { kind: "erased", erasedAt: head.erasedAt };
  if (events[0]!.version > head.version) return { kind: "write" };
  const conflict: Decision = { kind: "conflict", currentVersion: head.version };
  if (events.at(-1)!.version > head.version) return conflict;
  const sequences: number[] = [];
  for (const e of events) {
    const at = stored.get(e.version);
    if (at?.id !== e.id) return conflict;
    sequences.push(at.seq);
  }
  return { kind: "duplicate", sequences };
}

/** One actor of a write and its decision. */
export interface ActorDecision {
  actorId: string;
  attemptedVersion: number;
  currentVersion: number;
  decision: Decision;
}

export interface Conflict {
  actorId: string;
  attemptedVersion: number;
  currentVersion: number;
}

export type Outcome =
  | { kind: "erased"; actorId: string; erasedAt: string }
  | { kind: "write" }
  | { kind: "duplicate"; sequences: number[][] }
  | { kind: "conflict"; conflicts: Conflict[] };

/**
 * A write of several actors is stored all together or not at all, so it is a retry only when every
 * actor's part is; a write partly stored and partly not is another write, and every actor whose
 * part does not go after its head is behind.
 */
export function decideAll(actors: readonly ActorDecision[]): Outcome {
  for (const { actorId, decision } of actors) {
    if (decision.kind === "erased") return { kind: "erased", actorId, erasedAt: decision.erasedAt };
  }
  if (actors.every((a) => a.decision.kind === "write")) return { kind: "write" };
  const sequences: number[][] = [];
  for (const a of actors) if (a.decision.kind === "duplicate") sequences.push(a.decision.sequences);
  if (sequences.length === actors.length) return { kind: "duplicate", sequences };
  const conflicts = actors
    .filter((a) => a.decision.kind !== "write")
    .map(({ actorId, attemptedVersion, currentVersion }) => ({ actorId, attemptedVersion, currentVersion }));
  return { kind: "conflict", conflicts };
}
