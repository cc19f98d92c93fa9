import { type ApiError, JetStreamApiError, PubHeaders } from "@nats-io/jetstream";
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import {
  hasJsCode,
  InternalError,
  isWrongLastSequence,
  JsErrorCode,
  NotSupportedError,
  toEventStoreError,
  UnavailableError,
  VersionConflictError,
} from "../errors.js";
import type {
  AppendResponse,
  Event,
  SaveResponse,
  Snapshot,
  SnapshotGetResponse,
  SnapshotSaveResponse,
} from "../schemas/types.js";
import { Requester } from "../nats/requester.js";
import { Headers, type Subjects } from "../subjects.js";
import { ATOMIC_BATCH_SERVER, publishAtomicBatch } from "./append.js";
import { type ActorHead, LruCache } from "./cache.js";
import { ActorIndexes } from "./seq-index.js";
import { CATCH_UP_PAUSE_MS, request, sleep, statusError, type StoredMsg, StreamReader } from "./stream-reader.js";
import { batchIdReusedError, checkAppendBatch, idReusedError, serverBatchLimitError } from "./rules.js";
import {
  type EventStore,
  type EventsPage,
  newWriteCounters,
  pageOverhead,
  type ReadOptions,
  type StoreCounters,
  withTimestamp,
} from "./store.js";

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
}

/** The end of an actor's history as the server holds it now, with its last event's id. */
interface FreshHead extends ActorHead {
  id?: string;
}

// A write that keeps losing the expectation race to other writers of higher versions ends as a
// conflict by itself; this bound only stops a livelock against writers that never finish.
const MAX_WRITE_ATTEMPTS = 10;
// Events fetched per round while filling a page, so that a page that fills up early fetches little extra.
const FETCH_CHUNK = 1000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Events in a JetStream stream, one message per event on the actor's subject. Per-actor order holds
 * across processes through Nats-Expected-Last-Subject-Sequence; the cache only saves the read that
 * would find that sequence, and a stale entry costs one rejected publish, never a wrong answer.
 */
export class JetStreamEventStore implements EventStore {
  readonly counters = newWriteCounters();
  private readonly cache: LruCache<ActorHead>;
  private readonly requester: Requester;
  private readonly subjects: Subjects;
  private readonly timeout: number;
  private readonly atomicBatch: boolean;
  private readonly eventsStream: StreamReader;
  private readonly snapshotsStream: StreamReader;
  private readonly indexes: ActorIndexes;

  constructor(
    private readonly nc: NatsConnection,
    options: JetStreamStoreOptions,
  ) {
    this.subjects = options.subjects;
    this.timeout = options.timeoutMs;
    this.atomicBatch = options.atomicBatch;
    this.cache = new LruCache(options.cacheSize);
    this.requester = new Requester(nc, options.timeoutMs);
    const reads = {
      timeoutMs: options.timeoutMs,
      replicated: (options.replicas ?? 1) > 1,
      batchDirectGet: options.batchDirectGet ?? true,
    };
    this.eventsStream = new StreamReader(nc, this.requester, { ...reads, stream: this.subjects.stream });
    this.snapshotsStream = new StreamReader(nc, this.requester, { ...reads, stream: this.subjects.snapshotsStream });
    this.indexes = new ActorIndexes(options.indexSize ?? 1_000_000);
  }

  get cachedActors(): number {
    return this.cache.size;
  }

  async save(input: Event): Promise<SaveResponse> {
    const event = withTimestamp(input);
    const { actorId, version } = event;
    const subject = this.subjects.events(actorId);
    const body = encoder.encode(JSON.stringify(event));
    const counters = this.counters.save;
    return this.writeAtHead<SaveResponse>(actorId, subject, version, counters, {
      write: async (head) => {
        const headers = versionHeaders(version);
        headers.set(PubHeaders.MsgIdHdr, event.id);
        headers.set(PubHeaders.ExpectedLastSubjectSequenceHdr, String(head.seq));
        const ack = await this.publish(subject, body, headers);
        if (ack.duplicate) return this.resolveDedup(event, subject, ack.seq, counters);
        this.cache.set(actorId, { version, seq: ack.seq });
        this.indexes.recordWrite(actorId, head.seq, [version], [ack.seq]);
        return { actorId, version, sequence: ack.seq, duplicate: false };
      },
      repeat: async (head) => {
        const [sequence] = await this.resolveRepeat([event], subject, head, counters);
        return { actorId, version, sequence: sequence!, duplicate: true };
      },
    });
  }

  async append(actorId: string, input: Event[]): Promise<AppendResponse> {
    if (!this.atomicBatch) {
      throw new NotSupportedError(
        `append needs nats-server ${ATOMIC_BATCH_SERVER} or newer (atomic batch publish); ` +
          `this one is ${this.nc.info?.version ?? "unknown"}`,
        ATOMIC_BATCH_SERVER,
      );
    }
    checkAppendBatch(actorId, input);
    const events = input.map((e) => withTimestamp(e));
    const fromVersion = events[0]!.version;
    const toVersion = events.at(-1)!.version;
    const subject = this.subjects.events(actorId);
    const bodies = events.map((e) => encoder.encode(JSON.stringify(e)));
    const counters = this.counters.append;
    return this.writeAtHead<AppendResponse>(actorId, subject, fromVersion, counters, {
      write: async (head) => {
        const messages = events.map((e, i) => {
          const headers = versionHeaders(e.version);
          headers.set(PubHeaders.MsgIdHdr, e.id);
          // The expectation on the first message covers the batch: nothing lands between its messages.
          if (i === 0) headers.set(PubHeaders.ExpectedLastSubjectSequenceHdr, String(head.seq));
          return { data: bodies[i]!, headers };
        });
        let lastSeq: number;
        try {
          lastSeq = await publishAtomicBatch(this.nc, subject, messages, this.timeout);
        } catch (err) {
          if (hasJsCode(err, JsErrorCode.AtomicPublishTooLargeBatch)) throw serverBatchLimitError(events.length);
          throw err;
        }
        this.cache.set(actorId, { version: toVersion, seq: lastSeq });
        // A committed batch is stored as one unit, so its messages hold the sequences up to the last.
        const sequences = events.map((_, i) => lastSeq - events.length + 1 + i);
        this.indexes.recordWrite(
          actorId,
          head.seq,
          events.map((e) => e.version),
          sequences,
        );
        return { actorId, fromVersion, toVersion, sequences, duplicate: false };
      },
      repeat: async (head) => {
        const sequences = await this.resolveRepeat(events, subject, head, counters);
        return { actorId, fromVersion, toVersion, sequences, duplicate: true };
      },
    });
  }

  async events(actorId: string, options: ReadOptions): Promise<EventsPage> {
    return this.indexes.using(actorId, () => this.readPage(actorId, options));
  }

  /**
   * One page: the head (one read) says where the history ends, the index says where each event
   * is, and the events are fetched by sequence, so the cost follows the page, not the stream.
   */
  private async readPage(actorId: string, options: ReadOptions): Promise<EventsPage> {
    const from = options.fromVersion ?? 0;
    const limit = options.limit ?? Number.MAX_SAFE_INTEGER;
    const budget = options.maxBytes - pageOverhead(actorId);
    const subject = this.subjects.events(actorId);
    const head = await this.freshHead(actorId, subject);
    if (head.version <= from) return { actorId, encoded: [], hasMore: false };
    const seen = new Map<number, StoredMsg>();
    const index = await this.indexes.upTo(this.eventsStream, actorId, subject, head.seq, from, seen);
    const encoded: Uint8Array[] = [];
    let used = 0;
    let at = index.firstAfter(from);
    while (at < index.length && encoded.length < limit) {
      const seqs = index.seqs.slice(at, at + Math.min(FETCH_CHUNK, limit - encoded.length));
      for (const msg of await this.eventsStream.fetch(subject, seqs, seen)) {
        const cost = msg.data.length + (encoded.length > 0 ? 1 : 0);
        if (used + cost > budget) return { actorId, encoded, hasMore: true };
        encoded.push(msg.data);
        used += cost;
        at++;
      }
    }
    return { actorId, encoded, hasMore: at < index.length };
  }

  async version(actorId: string): Promise<number> {
    return (await this.freshHead(actorId, this.subjects.events(actorId))).version;
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
    await this.publish(
      this.subjects.snapshots(snapshot.actorId),
      encoder.encode(JSON.stringify(snapshot)),
      versionHeaders(snapshot.version),
    );
    return { actorId: snapshot.actorId, version: snapshot.version };
  }

  async getSnapshot(actorId: string): Promise<SnapshotGetResponse | undefined> {
    const msg = await this.snapshotsStream.last(this.subjects.snapshots(actorId));
    if (!msg) return undefined;
    const s = JSON.parse(new TextDecoder().decode(msg.data)) as SnapshotGetResponse;
    return { actorId: s.actorId, version: s.version, state: s.state, timestamp: s.timestamp };
  }

  /** The actor's head with every acknowledged write in it (one read), remembered in the cache. */
  private async freshHead(actorId: string, subject: string): Promise<FreshHead> {
    const msg = await this.eventsStream.current(subject);
    const head = msg ? { version: msg.version, seq: msg.seq, id: msg.id } : { version: 0, seq: 0 };
    this.cache.set(actorId, { version: head.version, seq: head.seq });
    return head;
  }

  /**
   * Runs a write that expects the actor's history to end at the head it is given, until it lands.
   * The cached head is tried first; a refused expectation re-reads the head and decides again. Once
   * the head shows the write's first version taken, `repeat` answers instead (duplicate or conflict).
   */
  private async writeAtHead<T>(
    actorId: string,
    subject: string,
    firstVersion: number,
    counters: StoreCounters,
    { write, repeat }: { write: (head: ActorHead) => Promise<T>; repeat: (head: FreshHead) => Promise<T> },
  ): Promise<T> {
    let head: FreshHead | undefined = this.cache.get(actorId);
    let fresh = false;
    if (head) {
      counters.cacheHits++;
    } else {
      counters.cacheMisses++;
      head = await this.freshHead(actorId, subject);
      fresh = true;
    }
    for (let attempt = 1; ; attempt++) {
      if (firstVersion <= head.version) {
        if (!fresh) {
          head = await this.freshHead(actorId, subject);
          fresh = true;
          continue;
        }
        return repeat(head);
      }
      try {
        return await write(head);
      } catch (err) {
        // The server checks a batch's ids before its expectation, so a reused id may also hide a moved head.
        const idTaken = hasJsCode(err, JsErrorCode.AtomicPublishDuplicateMessageId);
        // A retry that overtook its own original on a replicated stream: the head shows the outcome soon.
        const idInProcess = hasJsCode(err, JsErrorCode.DuplicateMessageIdInProcess);
        if (!isWrongLastSequence(err) && !idTaken && !idInProcess) {
          // The write may have been stored: forget what we knew so the retry re-reads.
          this.cache.delete(actorId);
          throw toEventStoreError(err);
        }
        if (idInProcess) await sleep(CATCH_UP_PAUSE_MS);
        const sent = head;
        head = await this.freshHead(actorId, subject);
        fresh = true;
        if (idTaken && head.seq === sent.seq) throw batchIdReusedError();
        if (attempt >= MAX_WRITE_ATTEMPTS) {
          throw new UnavailableError(`actor ${JSON.stringify(actorId)} is under heavy contention; retry`);
        }
        counters.retries++;
      }
    }
  }

  /**
   * The write repeats versions the actor already has: the same events (each id at its version)
   * are an idempotent success, answered with their original sequences; anything else is a
   * conflict that names the real current version.
   */
  private async resolveRepeat(events: Event[], subject: string, head: FreshHead, counters: StoreCounters): Promise<number[]> {
    const first = events[0]!;
    const last = events.at(-1)!;
    if (last.version <= head.version) {
      const stored =
        events.length === 1 && last.version === head.version
          ? new Map([[head.version, { seq: head.seq, id: head.id }]])
          : await this.findVersions(first.actorId, subject, first.version, last.version, head);
      const sequences = events.map((e) => {
        const s = stored.get(e.version);
        return s?.id === e.id ? s.seq : 0;
      });
      if (sequences.every((seq) => seq > 0)) {
        counters.duplicates++;
        return sequences;
      }
    }
    counters.conflicts++;
    throw new VersionConflictError(first.actorId, first.version, head.version);
  }

  /** JetStream's dedup window matched the id: only the same event at the same place is a duplicate. */
  private async resolveDedup(event: Event, subject: string, seq: number, counters: StoreCounters): Promise<SaveResponse> {
    const msg = await this.eventsStream.currentAt(seq);
    if (!msg) {
      // The event that used this id was removed (a purge), but JetStream still refuses the id.
      throw new UnavailableError(
        `event id ${JSON.stringify(event.id)} belonged to a message that was removed from the stream, and ` +
          `JetStream refuses it until its duplicate window (2 minutes by default) has passed; retry then`,
      );
    }
    if (msg.subject !== subject || msg.version !== event.version) throw idReusedError(event.id);
    counters.duplicates++;
    return { actorId: event.actorId, version: event.version, sequence: seq, duplicate: true };
  }

  /** The stored messages of versions from..to, by version, up to the head. */
  private async findVersions(
    actorId: string,
    subject: string,
    from: number,
    to: number,
    head: ActorHead,
  ): Promise<Map<number, { seq: number; id?: string }>> {
    return this.indexes.using(actorId, async () => {
      const seen = new Map<number, StoredMsg>();
      const index = await this.indexes.upTo(this.eventsStream, actorId, subject, head.seq, from - 1, seen);
      const seqs: number[] = [];
      for (let i = index.firstAfter(from - 1); i < index.length && index.versions[i]! <= to; i++) seqs.push(index.seqs[i]!);
      const found = new Map<number, { seq: number; id?: string }>();
      for (const msg of await this.eventsStream.fetch(subject, seqs, seen)) found.set(msg.version, { seq: msg.seq, id: msg.id });
      return found;
    });
  }

  /** Publishes to the stream and resolves to its ack; a refusal rejects with the server's JetStream error. */
  private async publish(subject: string, body: Uint8Array, headers: MsgHdrs): Promise<{ seq: number; duplicate: boolean }> {
    const reply = await request(this.requester, subject, body, headers);
    if (reply.headers?.code) throw statusError(reply);
    const ack = JSON.parse(decoder.decode(reply.data)) as { error?: ApiError; seq?: number; duplicate?: boolean };
    if (ack.error) throw new JetStreamApiError(ack.error);
    if (!Number.isSafeInteger(ack.seq)) throw new InternalError(`unexpected publish ack ${decoder.decode(reply.data)}`);
    return { seq: ack.seq!, duplicate: ack.duplicate === true };
  }
}

function versionHeaders(version: number): MsgHdrs {
  const h = natsHeaders();
  h.set(Headers.version, String(version));
  return h;
}
