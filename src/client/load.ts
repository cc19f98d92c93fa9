import type { StoredEvent } from "../contract/events.js";
import type { SnapshotGetResponse } from "../contract/types.js";

export type Reducer<S> = (state: S, event: StoredEvent) => S;

/** An actor's state folded from its history, and the version it reflects: save next at version + 1. */
export interface Loaded<S> {
  state: S;
  version: number;
  /** Present when the actor was erased: it has no history, and takes no writes. */
  erased?: true;
}

/** How a history ended: an erased actor has none. */
export interface EventsEnd {
  erased: boolean;
}

/** The two reads `load` needs, so that it depends on the client's behaviour and nothing else. */
export interface HistoryReader {
  getSnapshot(actorId: string): Promise<SnapshotGetResponse | undefined>;
  events(actorId: string, options: { fromVersion?: number }): AsyncGenerator<StoredEvent, EventsEnd>;
}

/**
 * The event-sourcing read path: start from the latest snapshot when there is one (its state
 * stands for every event up to its version), then fold the events after it.
 */
export async function loadActor<S>(reader: HistoryReader, actorId: string, reducer: Reducer<S>, initial: S): Promise<Loaded<S>> {
  const snapshot = await reader.getSnapshot(actorId);
  // A snapshot holds the state this reducer produced when it was taken, so it is an S.
  let state = snapshot ? (snapshot.state as unknown as S) : initial;
  let version = snapshot?.version ?? 0;
  const events = reader.events(actorId, { fromVersion: version });
  for (let next = await events.next(); ; next = await events.next()) {
    if (next.done) return next.value.erased ? { state: initial, version, erased: true } : { state, version };
    state = reducer(state, next.value);
    version = next.value.version;
  }
}
