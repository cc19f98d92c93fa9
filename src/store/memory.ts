import { VersionConflictError } from "../errors.js";
import type { AppendResponse, Event, SaveResponse, Snapshot, SnapshotSaveResponse } from "../schemas/types.js";
import { Subjects } from "../subjects.js";
import { decide, type Head, type StoredVersion, versionsToCompare } from "./decide.js";
import { checkStoredSize, encode, storedEventId } from "./encode.js";
import { MemoryStream } from "./memory-stream.js";
import { checkAppendBatch, snapshotAheadError } from "./rules.js";
import {
  type EventStore,
  type EventsPage,
  maxStoredEventBytes,
  newWriteCounters,
  pageOverhead,
  type ReadOptions,
  type StoreCounters,
  type StoredSnapshot,
} from "./store.js";

/** The two streams of a memory store; a test may put new ones in place, as if recreated. */
export interface MemoryStreams {
  events: MemoryStream;
  snapshots: MemoryStream;
}

export interface MemoryStoreOptions {
  /** Snapshots kept per actor (default 3). */
  snapshotsKeep?: number;
  /** The largest message, as a connection's max_payload (default 1 MiB). */
  maxPayload?: number;
  streams?: MemoryStreams;
  /** The subjects of the events and snapshots, as a JetStream store would have them. */
  subjects?: Subjects;
}

const decoder = new TextDecoder();

/** The store in one process's memory: for unit tests and EVENTSTORE_BACKEND=memory. */
export class MemoryEventStore implements EventStore {
  readonly counters = newWriteCounters();
  readonly streams: MemoryStreams;
  private readonly subjects: Subjects;
  private readonly maxPayload: number;

  constructor(options: MemoryStoreOptions = {}) {
    const keep = options.snapshotsKeep ?? 3;
    this.maxPayload = options.maxPayload ?? 1024 * 1024;
    this.subjects = options.subjects ?? new Subjects("MEMORY");
    this.streams = options.streams ?? { events: new MemoryStream(), snapshots: new MemoryStream(keep) };
  }

  async save(input: Event, json?: Uint8Array): Promise<SaveResponse> {
    const [sequence, duplicate] = this.write(input.actorId, [input], json && [json], this.counters.save, () => "/");
    return { actorId: input.actorId, version: input.version, sequence: sequence[0]!, duplicate };
  }

  async append(actorId: string, input: Event[], json?: Uint8Array[]): Promise<AppendResponse> {
    checkAppendBatch(actorId, input);
    const [sequences, duplicate] = this.write(actorId, input, json, this.counters.append, (i) => `/events/${i}`);
    return { actorId, fromVersion: input[0]!.version, toVersion: input.at(-1)!.version, sequences, duplicate };
  }

  async events(actorId: string, options: ReadOptions): Promise<EventsPage> {
    const from = options.fromVersion ?? 0;
    const limit = options.limit ?? Number.MAX_SAFE_INTEGER;
    const budget = options.maxBytes - pageOverhead(actorId);
    const history = this.streams.events.subject(this.subjects.events(actorId)).filter((m) => m.version > from);
    const encoded: Uint8Array[] = [];
    let used = 0;
    for (const m of history) {
      if (encoded.length >= limit) break;
      const cost = m.json.length + (encoded.length > 0 ? 1 : 0);
      if (used + cost > budget) break;
      encoded.push(m.json);
      used += cost;
    }
    return { actorId, encoded, hasMore: encoded.length < history.length };
  }

  async version(actorId: string): Promise<number> {
    return this.head(actorId).version;
  }

  async saveSnapshot(input: Snapshot, json?: Uint8Array): Promise<SnapshotSaveResponse> {
    const { value: snapshot, json: body } = encode(input, json);
    checkStoredSize(body, maxStoredEventBytes(snapshot.actorId, this.maxPayload), "/");
    const current = this.head(snapshot.actorId).version;
    if (snapshot.version > current) {
      this.counters.saveSnapshot.conflicts++;
      throw snapshotAheadError(snapshot.actorId, snapshot.version, current);
    }
    const subject = this.subjects.snapshots(snapshot.actorId);
    const newest = this.streams.snapshots.lastOf(subject);
    // The newest snapshot stays the last one kept, so that the bound never evicts it.
    if (!newest || snapshot.version >= newest.version) this.streams.snapshots.publish(subject, snapshot.version, body);
    return { actorId: snapshot.actorId, version: snapshot.version };
  }

  async getSnapshot(actorId: string): Promise<StoredSnapshot | undefined> {
    const msg = this.streams.snapshots.lastOf(this.subjects.snapshots(actorId));
    return msg && { snapshot: JSON.parse(decoder.decode(msg.json)), json: msg.json };
  }

  close(): void {}

  private head(actorId: string): Head {
    const last = this.streams.events.lastOf(this.subjects.events(actorId));
    return last ? { version: last.version, seq: last.seq } : { version: 0, seq: 0 };
  }

  /** One write of one or more events of an actor: all stored, a retry answered, or a conflict. */
  private write(
    actorId: string,
    input: Event[],
    json: Uint8Array[] | undefined,
    counters: StoreCounters,
    pathOf: (i: number) => string,
  ): [number[], boolean] {
    const events = input.map((e, i) => encode(e, json?.[i]));
    const limit = maxStoredEventBytes(actorId, this.maxPayload);
    for (const [i, e] of events.entries()) checkStoredSize(e.json, limit, pathOf(i));
    const subject = this.subjects.events(actorId);
    const head = this.head(actorId);
    const stored = new Map<number, StoredVersion>();
    const wanted = new Set(versionsToCompare(input, head));
    for (const m of this.streams.events.subject(subject)) {
      if (wanted.has(m.version)) stored.set(m.version, { seq: m.seq, id: storedEventId(m.json) });
    }
    const decision = decide(input, head, stored);
    if (decision.kind === "conflict") {
      counters.conflicts++;
      throw new VersionConflictError(actorId, input[0]!.version, decision.currentVersion);
    }
    if (decision.kind === "duplicate") {
      counters.duplicates++;
      return [decision.sequences, true];
    }
    return [events.map((e) => this.streams.events.publish(subject, e.value.version, e.json)), false];
  }
}
