import { type NatsConnection, nuid } from "@nats-io/transport-node";
import {
  ErasedError,
  hasJsCode,
  InternalError,
  isWrongLastSequence,
  JsErrorCode,
  NotSupportedError,
  toEventStoreError,
  UnavailableError,
} from "../errors.js";
import { ATOMIC_BATCH_SERVER, publishAtomicBatch } from "../jetstream/batch.js";
import { type JetStreamObserver, observed } from "../jetstream/observer.js";
import { publish, publishHeaders } from "../jetstream/publish.js";
import { CATCH_UP_PAUSE_MS, StaleIndexError, type StoredMsg, StreamReader } from "../jetstream/reader.js";
import { Requester } from "../jetstream/requester.js";
import { purge } from "../jetstream/streams.js";
import type {
  AppendResponse,
  EraseResponse,
  Event,
  SaveResponse,
  Snapshot,
  SnapshotSaveResponse,
  TransactResponse,
  VersionResponse,
} from "../schemas/types.js";
import { sleep } from "../sleep.js";
import { Headers, type Subjects } from "../subjects.js";
import { LruCache } from "./cache.js";
import { decide, decideAll, type Head, type StoredVersion, versionsToCompare } from "./decide.js";
import { checkStoredSize, type Encoded, encode, messageId, storedEventId } from "./encode.js";
import { serverBatchLimitError, snapshotAheadError } from "./rules.js";
import { ActorIndexes, firstAfter } from "./seq-index.js";
import {
  type ActorEvents,
  type EventStore,
  type EventsPage,
  maxStoredEventBytes,
  newWriteCounters,
  pageOverhead,
  type ReadOptions,
  type StoredSnapshot,
} from "./store.js";
import { StreamIdentity } from "./stream-identity.js";
import * as write from "./write.js";
import { answer, tombstone } from "./write.js";

export interface JetStreamStoreOptions {
  subjects: Subjects;
  /** Actors whose head the version cache keeps. */
  cacheSize: number;
  /** Timeout of each JetStream request. */
  timeoutMs: number;
  /** The server has atomic batch publish (>= 2.12) and the stream allows it: append needs both. */
  atomicBatch: boolean;
  /** The events stream's replicas (default 1); above 1, reads that must be current ask the stream leader. */
  replicas?: number;
  /** Index entries (version -> sequence) kept over all actors; see ActorIndex. */
  indexSize?: number;
  /** The server answers batch direct gets (>= 2.11); older ones are read one message at a time. */
  batchDirectGet?: boolean;
  /** Told of every JetStream request (metrics, tracing). */
  observer?: JetStreamObserver;
}

/** The end of an actor's history as the server holds it now, with its last event's body. */
interface FreshHead extends Head {
  json?: Uint8Array;
}

/** A head remembered by this replica, with the generation of what it knew of the stream then. */
interface CachedHead extends Head {
  generation: number;
}

// A write that keeps losing the expectation race to other writers of higher versions ends as a
// conflict by itself; this bound only stops a livelock against writers that never finish.
const MAX_WRITE_ATTEMPTS = 10;
// A read that finds the stream changing under it (messages deleted, stream recreated) starts over.
const MAX_READ_ATTEMPTS = 3;
// Most events fetched in one round while filling a page.
const MAX_FETCH = 1000;

const decoder = new TextDecoder();

/**
 * Events in a JetStream stream, one message per event on the actor's subject. Per-actor order holds
 * across processes through Nats-Expected-Last-Subject-Sequence; the cache only saves the read that
 * would find that sequence, and a stale entry costs one rejected publish, never a wrong answer.
 * What this replica remembers belongs to one stream: when the stream is replaced, it is forgotten.
 */
export class JetStreamEventStore implements EventStore {
  readonly counters = newWriteCounters();
  private readonly cache: LruCache<CachedHead>;
  private readonly requester: Requester;
  private readonly subjects: Subjects;
  private readonly timeout: number;
  private readonly atomicBatch: boolean;
  private readonly eventsStream: StreamReader;
  private readonly snapshotsStream: StreamReader;
  private readonly indexes: ActorIndexes;
  private readonly identity: StreamIdentity;
  private readonly maxPayload: number;
  // Counts the streams this replica has known; what was learned under an older one is not used.
  private generation = 0;

  constructor(
    private readonly nc: NatsConnection,
    options: JetStreamStoreOptions,
  ) {
    this.subjects = options.subjects;
    this.timeout = options.timeoutMs;
    this.atomicBatch = options.atomicBatch;
    this.maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    this.cache = new LruCache(options.cacheSize);
    this.requester = new Requester(nc, options.timeoutMs, options.observer);
    const reads = {
      timeoutMs: options.timeoutMs,
      replicated: (options.replicas ?? 1) > 1,
      batchDirectGet: options.batchDirectGet ?? true,
    };
    this.eventsStream = new StreamReader(nc, this.requester, { ...reads, stream: this.subjects.stream });
    this.snapshotsStream = new StreamReader(nc, this.requester, { ...reads, stream: this.subjects.snapshotsStream });
    this.indexes = new ActorIndexes(options.indexSize ?? 1_000_000);
    this.identity = new StreamIdentity(nc, this.requester, [this.subjects.stream, this.subjects.snapshotsStream], () => this.forgetAll());
  }

  cacheFigures() {
    return { version: this.cache.figures(), index: this.indexes.figures() };
  }

  /** Stops watching the streams; the connection stays the caller's. */
  close(): void {
    this.identity.stop();
  }

  async save(event: Event, json?: Uint8Array): Promise<SaveResponse> {
    return write.save(this.write, this.maxPayload, this.counters.save, event, json);
  }

  async append(actorId: string, events: Event[], json?: Uint8Array[]): Promise<AppendResponse> {
    this.requireAtomicBatch();
    return write.append(this.write, this.maxPayload, this.counters.append, actorId, events, json);
  }

  async transact(appends: ActorEvents[], json?: Uint8Array[][]): Promise<TransactResponse> {
    this.requireAtomicBatch();
    return write.transact(this.write, this.maxPayload, this.counters.transact, appends, json);
  }

  private requireAtomicBatch(): void {
    if (this.atomicBatch) return;
    throw new NotSupportedError(
      `append and transact need nats-server ${ATOMIC_BATCH_SERVER} or newer (atomic batch publish); ` +
        `this one is ${this.nc.info?.version ?? "unknown"}`,
      ATOMIC_BATCH_SERVER,
    );
  }

  async events(actorId: string, options: ReadOptions): Promise<EventsPage> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.readPage(actorId, options);
      } catch (err) {
        if (!(err instanceof StaleIndexError)) throw this.seen(err);
        // The stream lost or replaced messages this replica had indexed: learn the actor anew.
        this.indexes.forget(actorId);
        if (attempt >= MAX_READ_ATTEMPTS) throw new InternalError(`reading ${actorId}: ${err.message}`);
      }
    }
  }

  /**
   * One page: the head (one read) says where the history ends, the index says where each event
   * is, and the events are fetched by sequence, so the cost follows the page, not the stream.
   */
  private async readPage(actorId: string, options: ReadOptions): Promise<EventsPage> {
    const generation = this.generation;
    const from = options.fromVersion ?? 0;
    const limit = options.limit ?? Number.MAX_SAFE_INTEGER;
    const budget = options.maxBytes - pageOverhead(actorId);
    const subject = this.subjects.events(actorId);
    const head = await this.freshHead(actorId, subject, generation);
    if (head.erasedAt !== undefined) return { actorId, encoded: [], hasMore: false, erased: true };
    if (head.version <= from) return { actorId, encoded: [], hasMore: false };
    const seen = new Map<number, StoredMsg>();
    const index = await this.indexes.upTo(this.eventsStream, actorId, subject, head, from, seen, generation);
    const encoded: Uint8Array[] = [];
    let used = 0;
    let at = firstAfter(index.versions, from);
    // Until the page has events of its own, the head's size stands for theirs.
    let round = fetchRound(budget, 1, head.json?.length ?? 1);
    while (at < index.length && encoded.length < limit) {
      const end = Math.min(at + round, at + limit - encoded.length, index.length);
      const msgs = await this.eventsStream.fetch(subject, index.seqs.slice(at, end), index.versions.slice(at, end), seen);
      for (const msg of msgs) {
        const cost = msg.data.length + (encoded.length > 0 ? 1 : 0);
        if (used + cost > budget) {
          if (encoded.length === 0) {
            throw new InternalError(`${subject} version ${msg.version} (${msg.data.length} bytes) is larger than a page`);
          }
          return { actorId, encoded, hasMore: true };
        }
        encoded.push(msg.data);
        used += cost;
        at++;
      }
      round = fetchRound(budget - used, encoded.length, used);
    }
    return { actorId, encoded, hasMore: at < index.length };
  }

  async version(actorId: string): Promise<number> {
    return (await this.freshHead(actorId, this.subjects.events(actorId), this.generation)).version;
  }

  async versionInfo(actorId: string): Promise<VersionResponse> {
    const head = await this.freshHead(actorId, this.subjects.events(actorId), this.generation);
    return head.erasedAt === undefined ? { actorId, version: head.version } : { actorId, version: head.version, erased: true };
  }

  /**
   * The tombstone is published with the actor's expectation before anything is deleted: a save
   * racing the erase lands before it (and goes with the rest) or meets the tombstone (410). Then the
   * subject is purged but for the tombstone, and the snapshots. A crash between the steps leaves a
   * tombstone that the next erase finds and finishes from.
   */
  async erase(actorId: string, reason?: string): Promise<EraseResponse> {
    const generation = this.generation;
    const subject = this.subjects.events(actorId);
    for (let attempt = 1; ; attempt++) {
      const head = await this.freshHead(actorId, subject, generation);
      let { erasedAt, seq } = head;
      if (erasedAt === undefined) {
        const stone = tombstone(actorId, head.version, reason);
        try {
          const headers = { [Headers.version]: String(head.version), [Headers.erased]: stone.erasedAt };
          seq = (await publish(this.requester, subject, stone.json, { lastSubjectSeq: head.seq, headers })).seq;
          erasedAt = stone.erasedAt;
        } catch (err) {
          if (!isWrongLastSequence(err)) throw toEventStoreError(this.seen(err));
          if (attempt >= MAX_WRITE_ATTEMPTS)
            throw new UnavailableError(`actor ${JSON.stringify(actorId)} is under heavy contention; retry`);
          continue;
        }
      }
      this.remember(actorId, { version: head.version, seq, erasedAt }, generation);
      this.indexes.forget(actorId);
      const erasedEvents = await purge(this.requester, this.subjects.stream, subject, 1);
      const erasedSnapshots = await purge(this.requester, this.subjects.snapshotsStream, this.subjects.snapshots(actorId));
      return { actorId, version: head.version, erasedEvents, erasedSnapshots, erasedAt };
    }
  }

  async saveSnapshot(input: Snapshot, json?: Uint8Array): Promise<SnapshotSaveResponse> {
    const { value: snapshot, json: body } = encode(input, json);
    checkStoredSize(body, maxStoredEventBytes(snapshot.actorId, this.maxPayload), "/");
    const eventsHead = await this.freshHead(snapshot.actorId, this.subjects.events(snapshot.actorId), this.generation);
    if (eventsHead.erasedAt !== undefined) throw new ErasedError(snapshot.actorId, eventsHead.erasedAt);
    const current = eventsHead.version;
    if (snapshot.version > current) {
      this.counters.saveSnapshot.conflicts++;
      throw snapshotAheadError(snapshot.actorId, snapshot.version, current);
    }
    const subject = this.subjects.snapshots(snapshot.actorId);
    for (let attempt = 1; ; attempt++) {
      const newest = await this.snapshotsStream.current(subject);
      // The newest snapshot stays the last one kept, so that the per-actor bound never evicts it.
      if (newest && snapshot.version < newest.version) return { actorId: snapshot.actorId, version: snapshot.version };
      try {
        await publish(this.requester, subject, body, { lastSubjectSeq: newest?.seq ?? 0, headers: versionHeader(snapshot.version) });
        // An erase that began after the check above may have purged the snapshots before this one landed.
        const after = await this.freshHead(snapshot.actorId, this.subjects.events(snapshot.actorId), this.generation);
        if (after.erasedAt !== undefined) {
          await purge(this.requester, this.subjects.snapshotsStream, subject);
          throw new ErasedError(snapshot.actorId, after.erasedAt);
        }
        return { actorId: snapshot.actorId, version: snapshot.version };
      } catch (err) {
        if (!isWrongLastSequence(err)) throw this.seen(err);
        if (attempt >= MAX_WRITE_ATTEMPTS) throw new UnavailableError(`snapshots of ${snapshot.actorId} are under contention; retry`);
        this.counters.saveSnapshot.retries++;
      }
    }
  }

  async getSnapshot(actorId: string): Promise<StoredSnapshot | undefined> {
    const msg = await this.snapshotsStream.last(this.subjects.snapshots(actorId)).catch((err) => {
      throw this.seen(err);
    });
    return msg && { snapshot: JSON.parse(decoder.decode(msg.data)), json: msg.data };
  }

  /** The actor's head with every acknowledged write in it (one read), remembered in the cache. */
  private async freshHead(actorId: string, subject: string, generation: number): Promise<FreshHead> {
    let msg: StoredMsg | undefined;
    try {
      msg = await this.eventsStream.current(subject);
    } catch (err) {
      throw this.seen(err);
    }
    const head: FreshHead = msg ? { version: msg.version, seq: msg.seq, json: msg.data } : { version: 0, seq: 0 };
    if (msg?.erasedAt !== undefined) head.erasedAt = msg.erasedAt;
    this.remember(actorId, head, generation);
    return head;
  }

  private remember(actorId: string, head: Head, generation: number): void {
    if (generation !== this.generation) return;
    const cached: CachedHead = { version: head.version, seq: head.seq, generation };
    if (head.erasedAt !== undefined) cached.erasedAt = head.erasedAt;
    this.cache.set(actorId, cached);
  }

  private cachedHead(actorId: string): Head | undefined {
    const head = this.cache.get(actorId);
    return head?.generation === this.generation ? head : undefined;
  }

  /** Everything learned of the streams until now: they have been replaced. */
  private forgetAll(): void {
    this.generation++;
    this.cache.clear();
    this.indexes.clear();
  }

  /** A stream that does not answer may be gone, and come back as another one: look at it. */
  private seen(err: unknown): unknown {
    if (toEventStoreError(err) instanceof UnavailableError) this.identity.suspect();
    return err;
  }

  /**
   * One write of one or more actors' events: stored after the heads the stream has now, or decided
   * against what it holds (a retry of the same events, or a conflict). Each actor's first message
   * carries the expectation that its history ends at its head, and the server enforces every one.
   */
  private readonly write: write.Write = async (entries, counters, kind) => {
    const generation = this.generation;
    const subjects = entries.map((e) => this.subjects.events(e.actorId));
    const values = entries.map((e) => e.events.map((x) => x.value));
    const fresh = entries.map(() => false);
    const heads: FreshHead[] = await Promise.all(
      entries.map(async ({ actorId }, i) => {
        const cached = this.cachedHead(actorId);
        if (cached) {
          counters.cacheHits++;
          return cached;
        }
        counters.cacheMisses++;
        fresh[i] = true;
        return this.freshHead(actorId, subjects[i]!, generation);
      }),
    );
    const refresh = async (which: (i: number) => boolean) => {
      await Promise.all(
        entries.map(async ({ actorId }, i) => {
          if (!which(i)) return;
          heads[i] = await this.freshHead(actorId, subjects[i]!, generation);
          fresh[i] = true;
        }),
      );
    };
    // Set once JetStream recognised an id whose event is no longer stored (deleted or purged):
    // the new write must not be taken for that one.
    let renew = false;
    for (let attempt = 1; ; attempt++) {
      // What this replica remembers may be behind: a write that looks like a repeat is judged on the stream.
      const stale = (i: number) => !fresh[i] && values[i]![0]!.version <= heads[i]!.version;
      if (entries.some((_, i) => stale(i))) await refresh(stale);
      const decisions = await Promise.all(
        entries.map(async ({ actorId }, i) => {
          const head = heads[i]!;
          const stored = await this.storedVersions(actorId, subjects[i]!, versionsToCompare(values[i]!, head), head, generation);
          return {
            actorId,
            attemptedVersion: values[i]![0]!.version,
            currentVersion: head.version,
            decision: decide(values[i]!, head, stored),
          };
        }),
      );
      const outcome = decideAll(decisions);
      // A repeat or a conflict is answered on the stream as it is now, every actor of it included.
      if (outcome.kind !== "write" && fresh.some((f) => !f)) {
        await refresh((i) => !fresh[i]);
        continue;
      }
      const answered = answer(outcome, counters, kind);
      if (answered) return answered;
      const sent: Head[] = [...heads];
      try {
        const ids = values.map((events, i) =>
          events.map((e) => messageId(entries[i]!.actorId, e.version, e.id) + (renew ? `.${nuid.next()}` : "")),
        );
        const sequences =
          kind.transport === "batch"
            ? await this.publishBatch(entries, subjects, ids, sent)
            : await this.publishOne(subjects[0]!, entries[0]!.events[0]!, ids[0]![0]!, sent[0]!.seq);
        if (sequences) {
          for (const [i, { actorId }] of entries.entries()) {
            const seqs = sequences[i]!;
            this.remember(actorId, { version: values[i]!.at(-1)!.version, seq: seqs.at(-1)! }, generation);
            this.indexes.recordWrite(
              actorId,
              sent[i]!.seq,
              values[i]!.map((e) => e.version),
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
        const idKnown = hasJsCode(err, JsErrorCode.AtomicPublishDuplicateMessageId);
        // A retry that overtook its own original on a replicated stream: the head shows the outcome soon.
        const idInProcess = hasJsCode(err, JsErrorCode.DuplicateMessageIdInProcess);
        if (!isWrongLastSequence(err) && !idKnown && !idInProcess) {
          // The write may have been stored: forget what we knew so the retry re-reads.
          for (const { actorId } of entries) this.cache.delete(actorId);
          throw toEventStoreError(this.seen(err));
        }
        if (idInProcess) await sleep(CATCH_UP_PAUSE_MS);
        if (idKnown) renew = true;
        counters.retries++;
      }
      if (attempt >= MAX_WRITE_ATTEMPTS) {
        throw new UnavailableError(`${entries.map((e) => JSON.stringify(e.actorId)).join(", ")}: under heavy contention; retry`);
      }
      // A refused batch does not say whose expectation failed: read every head again.
      await refresh(() => true);
    }
  };

  /** Publishes one event; its sequence, or undefined when JetStream took it for an event it already had. */
  private async publishOne(subject: string, event: Encoded<Event>, msgId: string, lastSubjectSeq: number): Promise<number[][] | undefined> {
    const ack = await publish(this.requester, subject, event.json, { msgId, lastSubjectSeq, headers: versionHeader(event.value.version) });
    return ack.duplicate ? undefined : [[ack.seq]];
  }

  /** Publishes every actor's events as one atomic batch, the expectation on each actor's first message. */
  private async publishBatch(entries: write.WriteEntry[], subjects: string[], ids: string[][], heads: Head[]): Promise<number[][]> {
    const messages = entries.flatMap(({ events }, i) =>
      events.map((e, j) => ({
        subject: subjects[i]!,
        data: e.json,
        headers: publishHeaders({
          msgId: ids[i]![j]!,
          ...(j === 0 ? { lastSubjectSeq: heads[i]!.seq } : {}),
          headers: versionHeader(e.value.version),
        }),
      })),
    );
    let lastSeq: number;
    try {
      lastSeq = await observed(this.requester.observer, "batch_publish", subjects[0]!, () =>
        publishAtomicBatch(this.nc, messages, this.timeout),
      );
    } catch (err) {
      if (hasJsCode(err, JsErrorCode.AtomicPublishTooLargeBatch)) throw serverBatchLimitError(messages.length);
      throw err;
    }
    // A committed batch is stored as one unit, in its order, so its messages hold the sequences up to the last.
    let seq = lastSeq - messages.length;
    return entries.map(({ events }) => events.map(() => ++seq));
  }

  /** What the stream holds at these versions of the actor (each up to its head): sequence and exact id. */
  private async storedVersions(
    actorId: string,
    subject: string,
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
    for (let attempt = 1; ; attempt++) {
      try {
        const seen = new Map<number, StoredMsg>();
        const index = await this.indexes.upTo(this.eventsStream, actorId, subject, head, versions[0]! - 1, seen, generation);
        const at = firstAfter(index.versions, versions[0]! - 1);
        let end = at;
        while (end < index.length && index.versions[end]! <= versions.at(-1)!) end++;
        const msgs = await this.eventsStream.fetch(subject, index.seqs.slice(at, end), index.versions.slice(at, end), seen);
        for (const msg of msgs) found.set(msg.version, { seq: msg.seq, id: storedEventId(msg.data) });
        return found;
      } catch (err) {
        if (!(err instanceof StaleIndexError) || attempt >= MAX_READ_ATTEMPTS) throw err;
        this.indexes.forget(actorId);
      }
    }
  }
}

/** About as many events as the rest of a page's budget holds, at the size of those seen: never all of them. */
function fetchRound(budget: number, count: number, bytes: number): number {
  return Math.max(1, Math.min(MAX_FETCH, Math.ceil((budget * count) / Math.max(1, bytes)) + 1));
}

function versionHeader(version: number): Record<string, string> {
  return { [Headers.version]: String(version) };
}
