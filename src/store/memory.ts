import { VersionConflictError } from "../errors.js";
import type {
  AppendResponse,
  Event,
  SaveResponse,
  Snapshot,
  SnapshotGetResponse,
  SnapshotSaveResponse,
} from "../schemas/types.js";
import { checkAppendBatch, idReusedError } from "./rules.js";
import {
  type EventStore,
  type EventsPage,
  type ReadOptions,
  newWriteCounters,
  pageOverhead,
  type StoreCounters,
  type StoredEvent,
  withTimestamp,
} from "./store.js";

interface Stored {
  event: StoredEvent;
  encoded: Uint8Array;
  seq: number;
}

const encoder = new TextEncoder();

/** The store in one process's memory: for unit tests and EVENTSTORE_BACKEND=memory. */
export class MemoryEventStore implements EventStore {
  readonly counters = newWriteCounters();
  private readonly actors = new Map<string, Stored[]>();
  private readonly ids = new Map<string, Stored>();
  private readonly snapshots = new Map<string, SnapshotGetResponse[]>();
  private seq = 0;

  constructor(private readonly snapshotsKeep = 3) {}

  async save(input: Event): Promise<SaveResponse> {
    const event = withTimestamp(input);
    const history = this.actors.get(event.actorId) ?? [];
    const existing = this.resolveExisting(event, history, this.counters.save);
    if (existing) return { actorId: event.actorId, version: event.version, sequence: existing.seq, duplicate: true };
    const stored = this.store(event);
    return { actorId: event.actorId, version: event.version, sequence: stored.seq, duplicate: false };
  }

  async append(actorId: string, input: Event[]): Promise<AppendResponse> {
    checkAppendBatch(actorId, input);
    const events = input.map((e) => withTimestamp(e));
    const history = this.actors.get(actorId) ?? [];
    const first = events[0]!;
    const last = events[events.length - 1]!;
    const existing = this.resolveExisting(first, history, this.counters.append);
    if (existing) {
      const sequences = events.map((e) => {
        const s = history.find((h) => h.event.version === e.version);
        if (!s || s.event.id !== e.id) throw this.conflict(first, history, this.counters.append);
        return s.seq;
      });
      return { actorId, fromVersion: first.version, toVersion: last.version, sequences, duplicate: true };
    }
    for (const e of events) {
      const owner = this.ids.get(e.id);
      if (owner) throw idReusedError(e.id);
    }
    const sequences = events.map((e) => this.store(e).seq);
    return { actorId, fromVersion: first.version, toVersion: last.version, sequences, duplicate: false };
  }

  async events(actorId: string, options: ReadOptions): Promise<EventsPage> {
    const from = options.fromVersion ?? 0;
    const limit = options.limit ?? Number.MAX_SAFE_INTEGER;
    const budget = options.maxBytes - pageOverhead(actorId);
    const history = (this.actors.get(actorId) ?? []).filter((s) => s.event.version > from);
    const encoded: Uint8Array[] = [];
    let used = 0;
    for (const s of history) {
      if (encoded.length >= limit) break;
      const cost = s.encoded.length + (encoded.length > 0 ? 1 : 0);
      if (used + cost > budget) break;
      encoded.push(s.encoded);
      used += cost;
    }
    return { actorId, encoded, hasMore: encoded.length < history.length };
  }

  async version(actorId: string): Promise<number> {
    const history = this.actors.get(actorId);
    return history?.at(-1)?.event.version ?? 0;
  }

  async saveSnapshot(input: Snapshot): Promise<SnapshotSaveResponse> {
    const snapshot = withTimestamp(input);
    const current = await this.version(snapshot.actorId);
    if (snapshot.version > current) {
      this.counters.saveSnapshot.conflicts++;
      throw new VersionConflictError(
        snapshot.actorId,
        snapshot.version,
        current,
        `snapshot of actor ${JSON.stringify(snapshot.actorId)} at version ${snapshot.version} is ahead of its latest event version ${current}`,
      );
    }
    const kept = this.snapshots.get(snapshot.actorId) ?? [];
    kept.push({ actorId: snapshot.actorId, version: snapshot.version, state: snapshot.state, timestamp: snapshot.timestamp });
    this.snapshots.set(snapshot.actorId, kept.slice(-this.snapshotsKeep));
    return { actorId: snapshot.actorId, version: snapshot.version };
  }

  async getSnapshot(actorId: string): Promise<SnapshotGetResponse | undefined> {
    return this.snapshots.get(actorId)?.at(-1);
  }


  /** The stored event this save repeats, undefined when it is new; throws on a conflict. */
  private resolveExisting(event: Event, history: Stored[], counters: StoreCounters): Stored | undefined {
    const latest = history.at(-1)?.event.version ?? 0;
    if (event.version > latest) {
      if (this.ids.has(event.id)) throw idReusedError(event.id);
      return undefined;
    }
    const atVersion = history.find((s) => s.event.version === event.version);
    if (atVersion && atVersion.event.id === event.id) {
      counters.duplicates++;
      return atVersion;
    }
    throw this.conflict(event, history, counters);
  }

  private conflict(event: Event, history: Stored[], counters: StoreCounters): VersionConflictError {
    counters.conflicts++;
    return new VersionConflictError(event.actorId, event.version, history.at(-1)?.event.version ?? 0);
  }

  private store(event: StoredEvent): Stored {
    const stored = { event, encoded: encoder.encode(JSON.stringify(event)), seq: ++this.seq };
    const history = this.actors.get(event.actorId) ?? [];
    history.push(stored);
    this.actors.set(event.actorId, history);
    this.ids.set(event.id, stored);
    return stored;
  }
}
