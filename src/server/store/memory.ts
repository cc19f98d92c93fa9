import { ErasedError, InternalError } from "../../contract/errors.js";
import { Subjects } from "../../contract/subjects.js";
import type {
  AppendResponse,
  Condition,
  EraseResponse,
  Event,
  Query,
  SaveResponse,
  Snapshot,
  SnapshotSaveResponse,
  TransactResponse,
  VersionResponse,
} from "../../contract/types.js";
import { type CheckedOutcome, type ConditionCheck, conditionCheck } from "./condition.js";
import { decide, decideAll, type Head, type StoredVersion, versionsToCompare } from "./decide.js";
import { checkStoredSize, encode, storedEventId } from "./encode.js";
import {
  type ActorEvents,
  DEFAULT_MAX_PAYLOAD,
  type EventLimits,
  type EventStore,
  type EventsPage,
  type LogPage,
  type LogReadOptions,
  logEntryOverhead,
  logPageOverhead,
  maxStoredEventBytes,
  newWriteCounters,
  pageOverhead,
  type ReadOptions,
  type StoredSnapshot,
} from "./event-store.js";
import { type MemoryMsg, MemoryStream } from "./memory-stream.js";
import { type Matchable, matchesQuery } from "./query.js";
import { snapshotAheadError } from "./rules.js";
import { tombstone } from "./tombstone.js";
import * as write from "./write.js";
import { answer } from "./write.js";

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
  /** The service's request limit: no stored event may be larger (default: none). */
  maxRequestBytes?: number;
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
  private readonly limits: EventLimits;

  constructor(options: MemoryStoreOptions = {}) {
    const keep = options.snapshotsKeep ?? 3;
    this.maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.limits = { maxPayload: this.maxPayload, maxRequestBytes: options.maxRequestBytes };
    this.subjects = options.subjects ?? new Subjects("MEMORY");
    this.streams = options.streams ?? { events: new MemoryStream(), snapshots: new MemoryStream(keep) };
  }

  async save(event: Event, json?: Uint8Array): Promise<SaveResponse> {
    return write.save(this.write, this.limits, this.counters.save, event, json);
  }

  async append(actorId: string, events: Event[], json?: Uint8Array[], condition?: Condition): Promise<AppendResponse> {
    return write.append(this.write, this.limits, this.counters.append, actorId, events, json, condition);
  }

  async transact(appends: ActorEvents[], json?: Uint8Array[][], condition?: Condition): Promise<TransactResponse> {
    return write.transact(this.write, this.limits, this.counters.transact, appends, json, condition);
  }

  async events(actorId: string, options: ReadOptions): Promise<EventsPage> {
    const from = options.fromVersion ?? 0;
    const limit = options.limit ?? Number.MAX_SAFE_INTEGER;
    const budget = options.maxBytes - pageOverhead(actorId);
    if (this.head(actorId).erasedAt !== undefined) return { actorId, encoded: [], hasMore: false, erased: true };
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

  async read(options: LogReadOptions): Promise<LogPage> {
    const stream = this.streams.events;
    const head = stream.lastSeq;
    const from = options.from ?? (options.backwards ? head : 1);
    const limit = options.limit ?? Number.MAX_SAFE_INTEGER;
    const budget = options.maxBytes - logPageOverhead(head);
    const entries: LogPage["entries"] = [];
    let used = 0;
    for (const m of this.loggedEvents(from, options.backwards, options.query)) {
      const cost = m.json.length + logEntryOverhead(m.seq);
      if (entries.length >= limit || used + cost > budget) {
        // Stored events are bounded to fit a page of their own: one that does not is a bug, not a page.
        if (entries.length === 0) throw new InternalError(`read: the event at position ${m.seq} does not fit in a reply`);
        return { entries, hasMore: true, head };
      }
      entries.push({ position: m.seq, json: m.json });
      used += cost;
    }
    return { entries, hasMore: false, head };
  }

  async version(actorId: string): Promise<number> {
    return this.head(actorId).version;
  }

  async versionInfo(actorId: string): Promise<VersionResponse> {
    const head = this.head(actorId);
    return head.erasedAt === undefined ? { actorId, version: head.version } : { actorId, version: head.version, erased: true };
  }

  async erase(actorId: string, reason?: string): Promise<EraseResponse> {
    const subject = this.subjects.events(actorId);
    const head = this.head(actorId);
    let erasedAt = head.erasedAt;
    if (erasedAt === undefined) {
      const stone = tombstone(actorId, head.version, reason);
      erasedAt = stone.erasedAt;
      this.streams.events.publish(subject, head.version, stone.json, erasedAt);
    }
    const erasedEvents = this.streams.events.purge(subject, 1);
    const erasedSnapshots = this.streams.snapshots.purge(this.subjects.snapshots(actorId));
    return { actorId, version: head.version, erasedEvents, erasedSnapshots, erasedAt };
  }

  async saveSnapshot(input: Snapshot, json?: Uint8Array): Promise<SnapshotSaveResponse> {
    const { value: snapshot, json: body } = encode(input, json);
    checkStoredSize(body, maxStoredEventBytes(snapshot.actorId, { maxPayload: this.maxPayload }), "/");
    const head = this.head(snapshot.actorId);
    if (head.erasedAt !== undefined) throw new ErasedError(snapshot.actorId, head.erasedAt);
    const current = head.version;
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

  /**
   * The events of the log matching the query, from `from` on (or down), in stream order: tombstones
   * are not events, and an erased actor's events are deleted already.
   */
  private *loggedEvents(from: number, backwards: boolean | undefined, query: Query | undefined): Generator<MemoryMsg> {
    for (const m of this.streams.events.range(from, backwards)) {
      if (m.erasedAt === undefined && matchesQuery(JSON.parse(decoder.decode(m.json)) as Matchable, query)) yield m;
    }
  }

  /** The newest position of an event matching the check's query after its `after`, if any. */
  private newestMatch({ query, after }: ConditionCheck): number | undefined {
    const newest = this.loggedEvents(this.streams.events.lastSeq, true, query).next();
    return !newest.done && newest.value.seq > after ? newest.value.seq : undefined;
  }

  private head(actorId: string): Head {
    const last = this.streams.events.lastOf(this.subjects.events(actorId));
    if (!last) return { version: 0, seq: 0 };
    return last.erasedAt ? { version: last.version, seq: last.seq, erasedAt: last.erasedAt } : { version: last.version, seq: last.seq };
  }

  /** Decides every actor's part on the stream as it is, then stores all of them or none. */
  private readonly write: write.Write = async (entries, counters, kind, condition) => {
    const decisions = entries.map(({ actorId, events }) => {
      const values = events.map((e) => e.value);
      const head = this.head(actorId);
      const wanted = new Set(versionsToCompare(values, head));
      const stored = new Map<number, StoredVersion>();
      for (const m of this.streams.events.subject(this.subjects.events(actorId))) {
        if (wanted.has(m.version)) stored.set(m.version, { seq: m.seq, id: storedEventId(m.json) });
      }
      return { actorId, attemptedVersion: values[0]!.version, currentVersion: head.version, decision: decide(values, head, stored) };
    });
    // Decided, checked and stored with nothing awaited in between: one atomic step, as a batch is.
    const decided = decideAll(decisions);
    const check = conditionCheck(decided, condition);
    const position = check && this.newestMatch(check);
    const outcome: CheckedOutcome = position === undefined ? decided : { kind: "condition", position };
    if (outcome.kind !== "write") return answer(outcome, counters, kind);
    const sequences = entries.map(({ actorId, events }) =>
      events.map((e) => this.streams.events.publish(this.subjects.events(actorId), e.value.version, e.json)),
    );
    return { sequences, duplicate: false };
  };
}
