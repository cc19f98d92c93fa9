import { type ApiError, JetStreamApiCodes, JetStreamApiError, PubHeaders } from "@nats-io/jetstream";
import {
  Empty,
  headers as natsHeaders,
  type Msg,
  type MsgHdrs,
  MsgHdrsImpl,
  type NatsConnection,
} from "@nats-io/transport-node";
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
import { ActorIndex, planRuns } from "./seq-index.js";
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

/** One stored message as a direct get or the stream leader returns it. */
interface StoredMsg {
  seq: number;
  subject: string;
  version: number;
  id?: string;
  data: Uint8Array;
}

// A write that keeps losing the expectation race to other writers of higher versions ends as a
// conflict by itself; this bound only stops a livelock against writers that never finish.
const MAX_WRITE_ATTEMPTS = 10;
// How many messages one batch direct get asks for while scanning an actor's history.
const SCAN_BATCH = 1000;
// Pause before asking again when the replica that answered has not caught up with the leader, or
// the leader is still storing the same event for another request.
const CATCH_UP_PAUSE_MS = 10;
// Sequences of one actor this close together are read with one batch get: the server steps over
// at most this many other messages between two of ours, all in the same few blocks.
const RUN_GAP = 64;
// Events fetched per round while filling a page, so that a page that fills up early fetches little extra.
const FETCH_CHUNK = 1000;
// The newest entries kept per actor; reads from before them scan the history once more.
const MAX_INDEXED_PER_ACTOR = 100_000;
// What an index costs beyond its entries, in entries, for the index cache's bound.
const INDEX_OVERHEAD = 8;

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
  private readonly directGet: string;
  private readonly snapshotDirectGet: string;
  private readonly leaderGet: string;
  /**
   * Any replica answers a direct get, and a follower may not have applied the latest writes yet
   * (on a 3-node cluster under load, 10-40% of reads made right after a write missed it). Where a
   * read must include every acknowledged write, a replicated stream is asked through its leader.
   */
  private readonly replicated: boolean;
  private readonly indexes: LruCache<ActorIndex>;
  private readonly batchDirectGet: boolean;

  constructor(
    private readonly nc: NatsConnection,
    options: JetStreamStoreOptions,
  ) {
    this.subjects = options.subjects;
    this.timeout = options.timeoutMs;
    this.atomicBatch = options.atomicBatch;
    this.cache = new LruCache(options.cacheSize);
    this.requester = new Requester(nc, options.timeoutMs);
    this.directGet = `$JS.API.DIRECT.GET.${this.subjects.stream}`;
    this.snapshotDirectGet = `$JS.API.DIRECT.GET.${this.subjects.snapshotsStream}`;
    this.leaderGet = `$JS.API.STREAM.MSG.GET.${this.subjects.stream}`;
    this.replicated = (options.replicas ?? 1) > 1;
    this.indexes = new LruCache(options.indexSize ?? 1_000_000);
    this.batchDirectGet = options.batchDirectGet ?? true;
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
        this.indexWrite(actorId, head.seq, [version], [ack.seq]);
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
        this.indexWrite(
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
    return this.withIndex(actorId, () => this.readPage(actorId, options));
  }

  /** Runs a read that uses the actor's index, once more from a new index if the stream no longer matches it. */
  private async withIndex<T>(actorId: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      if (!(err instanceof StaleIndexError)) throw err;
      // The stream lost messages this replica had indexed (deleted, purged, recreated): learn it anew.
      this.indexes.delete(actorId);
      return read();
    }
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
    const index = await this.indexUpTo(actorId, subject, head, from, seen);
    const encoded: Uint8Array[] = [];
    let used = 0;
    let at = index.firstAfter(from);
    while (at < index.length && encoded.length < limit) {
      const seqs = index.seqs.slice(at, at + Math.min(FETCH_CHUNK, limit - encoded.length));
      for (const msg of await this.fetchSeqs(subject, seqs, seen)) {
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
    const msg = await this.lastMsg(this.snapshotDirectGet, this.subjects.snapshots(actorId));
    if (!msg) return undefined;
    const s = JSON.parse(new TextDecoder().decode(msg.data)) as SnapshotGetResponse;
    return { actorId: s.actorId, version: s.version, state: s.state, timestamp: s.timestamp };
  }

  /** The actor's head with every acknowledged write in it (one read), remembered in the cache. */
  private async freshHead(actorId: string, subject: string): Promise<FreshHead> {
    const msg = this.replicated ? await this.fromLeader({ last_by_subj: subject }) : await this.lastMsg(this.directGet, subject);
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
    const msg = this.replicated ? await this.fromLeader({ seq }) : await this.msgBySeq(seq);
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
    return this.withIndex(actorId, async () => {
      const seen = new Map<number, StoredMsg>();
      const index = await this.indexUpTo(actorId, subject, head, from - 1, seen);
      const seqs: number[] = [];
      for (let i = index.firstAfter(from - 1); i < index.length && index.versions[i]! <= to; i++) seqs.push(index.seqs[i]!);
      const found = new Map<number, { seq: number; id?: string }>();
      for (const msg of await this.fetchSeqs(subject, seqs, seen)) found.set(msg.version, { seq: msg.seq, id: msg.id });
      return found;
    });
  }

  /**
   * The actor's index brought up to the head. Only what this replica has not seen yet is scanned,
   * from the last sequence it knows; an index that cannot answer (none yet, trimmed past `from`,
   * or ahead of the head because the stream was recreated) is rebuilt from the start.
   */
  private async indexUpTo(
    actorId: string,
    subject: string,
    head: ActorHead,
    from: number,
    seen: Map<number, StoredMsg>,
  ): Promise<ActorIndex> {
    let index = this.indexes.get(actorId);
    if (!index || index.lastSeq > head.seq || !index.covers(from)) index = new ActorIndex(true);
    const idx = index;
    if (idx.lastSeq < head.seq) {
      await this.scan(subject, idx.lastSeq + 1, head.seq, (msg) => {
        if (msg.seq > head.seq) return false;
        // Another read or a write of this replica may have added it meanwhile.
        if (msg.seq > idx.lastSeq) {
          if (msg.version <= idx.lastVersion) throw new StaleIndexError(`${subject} starts again at version ${msg.version}`);
          idx.add(msg.version, msg.seq);
        }
        seen.set(msg.seq, msg);
        return msg.seq < head.seq;
      });
    }
    idx.trim(MAX_INDEXED_PER_ACTOR);
    this.indexes.set(actorId, idx, idx.length + INDEX_OVERHEAD);
    return idx;
  }

  /**
   * Records a write in the actor's index when the index ended exactly where the write began;
   * otherwise this replica missed other writes, and the next read scans past what it knows.
   */
  private indexWrite(actorId: string, afterSeq: number, versions: number[], seqs: number[]): void {
    let index = this.indexes.get(actorId);
    // A write that expected sequence 0 found no history at all: its index is complete.
    if (!index && afterSeq === 0) index = new ActorIndex(true);
    if (!index || index.lastSeq !== afterSeq) return;
    if (versions[0]! <= index.lastVersion) {
      // Only a stream that lost the actor's history lets its versions start over: forget the index.
      this.indexes.delete(actorId);
      return;
    }
    versions.forEach((v, i) => index.add(v, seqs[i]!));
    index.trim(MAX_INDEXED_PER_ACTOR);
    this.indexes.set(actorId, index, index.length + INDEX_OVERHEAD);
  }

  /**
   * The actor's messages at these sequences, in order. Close sequences are read as runs with one
   * batch get each, the rest one by one, all at once; whatever a lagging replica did not return
   * is asked of the stream leader.
   */
  private async fetchSeqs(subject: string, seqs: number[], seen: Map<number, StoredMsg>): Promise<StoredMsg[]> {
    const missing = seqs.filter((seq) => !seen.has(seq));
    const runs = planRuns(missing, this.batchDirectGet ? RUN_GAP : 0);
    await Promise.all(
      runs.map(async (run) => {
        if (run.count === 1) {
          const msg = await this.msgBySeq(run.start);
          if (msg) seen.set(msg.seq, msg);
          return;
        }
        const request = JSON.stringify({ seq: run.start, next_by_subj: subject, batch: run.count });
        for (const reply of await this.requestMany(this.directGet, request)) {
          const msg = fromDirectGet(reply);
          if (msg.seq <= run.end) seen.set(msg.seq, msg);
        }
      }),
    );
    return Promise.all(
      seqs.map(async (seq) => {
        const msg = seen.get(seq) ?? (this.replicated ? await this.fromLeader({ seq }) : undefined);
        if (!msg || msg.subject !== subject) throw new StaleIndexError(`sequence ${seq} no longer holds an event of ${subject}`);
        return msg;
      }),
    );
  }

  /**
   * Walks one subject's messages in stream order with batch direct gets, until visit returns
   * false or the history ends. The server marks the end of each batch, so no read waits for a
   * timeout to learn that there is nothing more. Any replica may answer a direct get, and one that
   * has not applied the latest writes ends early; with untilSeq, the history ends only once that
   * sequence has been seen, and a batch that ends short is asked again from where it stopped.
   * (A min_last_seq in the request does not stop a batch answer from being short on 2.15.)
   */
  private async scan(
    subject: string,
    fromSeq: number,
    untilSeq: number,
    visit: (msg: StoredMsg) => boolean,
  ): Promise<void> {
    const deadline = Date.now() + this.timeout;
    let seq = fromSeq;
    for (;;) {
      const replies = this.batchDirectGet
        ? await this.requestMany(this.directGet, JSON.stringify({ seq, next_by_subj: subject, batch: SCAN_BATCH }))
        : await this.nextOne(subject, seq);
      let last: StoredMsg | undefined;
      for (const reply of replies) {
        last = fromDirectGet(reply);
        if (!visit(last)) return;
      }
      if (last) seq = last.seq + 1;
      // A batch says how many more there are; a single get only that it found one.
      const more = this.batchDirectGet ? Number(replies.at(-1)?.headers?.get("Nats-Num-Pending") ?? "0") > 0 : !!last;
      if (last && more) continue;
      if (seq > untilSeq) return;
      if (Date.now() > deadline) throw new UnavailableError("no replica of the stream caught up with its leader in time; retry");
      await sleep(CATCH_UP_PAUSE_MS);
    }
  }

  /** A server without batch direct gets (< 2.11) gives the next message of a subject one at a time. */
  private async nextOne(subject: string, seq: number): Promise<Msg[]> {
    const reply = await this.requestReply(this.directGet, encoder.encode(JSON.stringify({ seq, next_by_subj: subject })));
    const code = reply.headers?.code ?? 0;
    if (code === 404) return [];
    if (code !== 0) throw statusError(reply);
    return [reply];
  }

  /** Sends one batch direct get and collects its messages up to the end-of-batch marker. */
  private async requestMany(subject: string, payload: string): Promise<Msg[]> {
    const out: Msg[] = [];
    let ended = false;
    try {
      const iter = await this.nc.requestMany(subject, payload, { strategy: "sentinel", maxWait: this.timeout });
      for await (const msg of iter) {
        const code = msg.headers?.code ?? 0;
        if (code === 0 && msg.data.length > 0) {
          out.push(msg);
          continue;
        }
        ended = true;
        // 204: end of batch; 404: the subject has no (more) messages.
        if (code === 204 || code === 404) break;
        throw statusError(msg);
      }
    } catch (err) {
      throw toEventStoreError(err);
    }
    if (!ended) throw new UnavailableError("JetStream did not finish a read in time; retry");
    return out;
  }

  private async lastMsg(api: string, subject: string): Promise<StoredMsg | undefined> {
    return this.directRequest(`${api}.${subject}`, Empty);
  }

  /** One message as the stream leader has it: `$JS.API.STREAM.MSG.GET`, which only the leader answers. */
  private async fromLeader(query: { seq: number } | { last_by_subj: string }): Promise<StoredMsg | undefined> {
    const reply = await this.requestReply(this.leaderGet, encoder.encode(JSON.stringify(query)));
    if (reply.headers?.code) throw statusError(reply);
    const r = JSON.parse(decoder.decode(reply.data)) as {
      error?: ApiError;
      message?: { seq: number; subject: string; hdrs?: string; data?: string };
    };
    if (r.error?.err_code === JetStreamApiCodes.NoMessageFound) return undefined;
    if (r.error) throw toEventStoreError(new JetStreamApiError(r.error));
    const m = r.message;
    if (!m) throw new InternalError(`unexpected message get reply ${decoder.decode(reply.data)}`);
    const headers = m.hdrs ? MsgHdrsImpl.decode(Buffer.from(m.hdrs, "base64")) : undefined;
    return toStoredMsg(m.seq, m.subject, headers, m.data ? Buffer.from(m.data, "base64") : new Uint8Array());
  }

  private async msgBySeq(seq: number): Promise<StoredMsg | undefined> {
    return this.directRequest(this.directGet, encoder.encode(JSON.stringify({ seq })));
  }

  /** Publishes to the stream and resolves to its ack; a refusal rejects with the server's JetStream error. */
  private async publish(subject: string, body: Uint8Array, headers: MsgHdrs): Promise<{ seq: number; duplicate: boolean }> {
    const reply = await this.requestReply(subject, body, headers);
    if (reply.headers?.code) throw statusError(reply);
    const ack = JSON.parse(decoder.decode(reply.data)) as { error?: ApiError; seq?: number; duplicate?: boolean };
    if (ack.error) throw new JetStreamApiError(ack.error);
    if (!Number.isSafeInteger(ack.seq)) throw new InternalError(`unexpected publish ack ${decoder.decode(reply.data)}`);
    return { seq: ack.seq!, duplicate: ack.duplicate === true };
  }

  private async requestReply(subject: string, payload: Uint8Array, headers?: MsgHdrs): Promise<Msg> {
    try {
      return await this.requester.request(subject, payload, headers);
    } catch (err) {
      throw toEventStoreError(err);
    }
  }

  private async directRequest(subject: string, payload: Uint8Array): Promise<StoredMsg | undefined> {
    const reply = await this.requestReply(subject, payload);
    const code = reply.headers?.code ?? 0;
    if (code === 404) return undefined;
    if (code !== 0) throw statusError(reply);
    return fromDirectGet(reply);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function versionHeaders(version: number): MsgHdrs {
  const h = natsHeaders();
  h.set(Headers.version, String(version));
  return h;
}

/** A direct get reply carries the message's sequence and subject in its headers. */
function fromDirectGet(msg: Msg): StoredMsg {
  const h = msg.headers;
  return toStoredMsg(Number(h?.get("Nats-Sequence")), h?.get("Nats-Subject") ?? "", h, msg.data);
}

function toStoredMsg(seq: number, subject: string, h: MsgHdrs | undefined, data: Uint8Array): StoredMsg {
  const version = Number(h?.get(Headers.version));
  if (!Number.isSafeInteger(version) || version < 1) {
    // Skipping it would silently hide part of an actor's history: refuse to answer instead.
    throw new InternalError(`message ${seq} on ${subject} has no valid ${Headers.version} header: not written by eventstore`);
  }
  return { seq, subject, version, id: h?.get("Nats-Msg-Id") || undefined, data };
}

function statusError(msg: Msg): Error {
  const code = msg.headers?.code ?? 0;
  const description = msg.headers?.description ?? "";
  if (code === 503 || code === 408) return new UnavailableError(`JetStream unavailable (${code} ${description}); retry`);
  return new InternalError(`unexpected direct get status ${code} ${description}`);
}

/** An index entry pointed at a sequence that no longer holds the actor's event. */
class StaleIndexError extends Error {
  override readonly name = "StaleIndexError";
}
