import { setTimeout as sleep } from "node:timers/promises";
import { type ApiError, DirectMsgHeaders, JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { Empty, type Msg, type MsgHdrs, MsgHdrsImpl, type NatsConnection } from "@nats-io/transport-node";
import { InternalError } from "../../contract/errors.js";
import { Headers } from "../../contract/subjects.js";
import { ConsumerPath, readByConsumer } from "./consumer-read.js";
import { JetStreamReplyError, JetStreamTimeoutError, statusError } from "./errors.js";
import { observed } from "./observer.js";
import type { Requester } from "./requester.js";

/** One stored message as a direct get or the stream leader returns it. */
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

export interface StreamReaderOptions {
  stream: string;
  timeoutMs: number;
  /**
   * Any replica answers a direct get, and a follower may not have applied the latest writes yet
   * (on a 3-node cluster under load, 10-40% of reads made right after a write missed it). Where a
   * read must include every acknowledged write, a replicated stream is asked through its leader.
   */
  replicated: boolean;
  /** The server answers batch direct gets (>= 2.11); older ones are read one message at a time. */
  batchDirectGet: boolean;
  /** The connection's max_payload: no stored message is larger, and no read round brings much more. */
  maxPayload: number;
}

// How many messages one batch direct get asks for while scanning a subject.
const SCAN_BATCH = 1000;
// Sequences of one actor this close together are read with one batch get: the server steps over
// at most this many other messages between two of ours, all in the same few blocks.
const RUN_GAP = 64;
// Pause before asking again when the replica that answered has not caught up with the leader.
export const CATCH_UP_PAUSE_MS = 10;
// From this many events on, a round of a page is read through a consumer rather than batch direct
// gets: creating and deleting it costs two requests, decoding no header block saves more.
export const CONSUMER_ROUND = 200;
// Most requests one round of a page sends at once: each brings one message, or a run bounded in bytes.
const ROUND_REQUESTS = 32;
// What a read round may bring beyond max_payload: the subject and reply the server counts with a message.
const ROUND_ROOM = 16 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Reads the messages of one stream: by subject, by sequence, and whole subjects in order. */
export class StreamReader {
  private readonly directGet: string;
  private readonly leaderGet: string;
  private readonly consumers = new ConsumerPath();
  /** At most this many bytes in one batch request or pull (server-side `max_bytes`). */
  private readonly roundBytes: number;
  /**
   * An operator's mirror with `mirror_direct` answers direct gets addressed to this stream; its
   * answers name it in `Nats-Stream`. Once one came, a direct get that finds nothing may be the
   * mirror's too (a 404 names no stream), so reads that decide ask the stream leader from then on.
   */
  private foreignAnswers = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly requester: Requester,
    private readonly options: StreamReaderOptions,
  ) {
    this.directGet = `$JS.API.DIRECT.GET.${options.stream}`;
    this.leaderGet = `$JS.API.STREAM.MSG.GET.${options.stream}`;
    this.roundBytes = options.maxPayload + ROUND_ROOM;
  }

  /** Whether reads that decide ask the leader: a follower may lag behind it, a mirror answers for another stream. */
  private get leaderOnly(): boolean {
    return this.options.replicated || this.foreignAnswers;
  }

  /** The subject's last message from any replica (one direct get). */
  private last(subject: string): Promise<StoredMsg | undefined> {
    return this.directRequest(`${this.directGet}.${subject}`, Empty, { last_by_subj: subject });
  }

  /**
   * The subject's last message with every acknowledged write in it, from this stream: the
   * leader's, on a replicated stream or once a mirror answered for it.
   */
  current(subject: string): Promise<StoredMsg | undefined> {
    return this.leaderOnly ? this.fromLeader({ last_by_subj: subject }) : this.last(subject);
  }

  /**
   * Walks one subject's messages in stream order, from fromSeq, until visit returns false or the
   * history ends. The server marks the end of each batch, so no read waits for a timeout to learn
   * that there is nothing more. A replica that has not applied the latest writes ends early; with
   * untilSeq, the history ends only once that sequence has been seen, and a batch that ends short
   * is asked again from where it stopped. (min_last_seq does not stop a short batch on 2.15.)
   */
  async scan(subject: string, fromSeq: number, untilSeq: number, visit: (msg: StoredMsg) => boolean): Promise<void> {
    const deadline = Date.now() + this.options.timeoutMs;
    let seq = fromSeq;
    for (;;) {
      const replies = this.options.batchDirectGet
        ? await this.requestMany(JSON.stringify({ seq, next_by_subj: subject, batch: SCAN_BATCH, max_bytes: this.roundBytes }))
        : await this.nextOne(subject, seq);
      let last: StoredMsg | undefined;
      for (const reply of replies) {
        last = fromDirectGet(reply);
        if (!visit(last)) return;
      }
      if (last) seq = last.seq + 1;
      // A batch says how many more there are; a single get only that it found one.
      const more = this.options.batchDirectGet ? Number(replies.at(-1)?.headers?.get(DirectMsgHeaders.NumPending) ?? "0") > 0 : !!last;
      if (last && more) continue;
      if (seq > untilSeq) return;
      // Short of untilSeq: a replica (or a mirror) that has not caught up yet, or the message there is gone.
      if (!this.leaderOnly || (await this.fromLeader({ last_by_subj: subject }))?.seq !== untilSeq) {
        throw new StaleIndexError(`${subject} no longer ends at sequence ${untilSeq}`);
      }
      if (Date.now() > deadline) throw new JetStreamTimeoutError("no replica of the stream caught up with its leader in time; retry");
      await sleep(CATCH_UP_PAUSE_MS);
    }
  }

  /**
   * The subject's messages at these sequences, in order. Close sequences are read as runs with one
   * batch get each, the rest one by one, all at once; whatever a lagging replica did not return is
   * asked of the stream leader. `seen` holds messages already at hand and receives the new ones.
   * Each sequence must still hold the version the caller expects there, or the stream changed.
   */
  async fetch(subject: string, seqs: number[], versions: number[], seen: Map<number, StoredMsg>): Promise<StoredMsg[]> {
    const missing = seqs.filter((seq) => !seen.has(seq));
    const runs = planRuns(missing, this.options.batchDirectGet ? RUN_GAP : 0);
    await Promise.all(runs.map((run) => this.getRun(subject, run, seen)));
    return Promise.all(
      seqs.map(async (seq, i) => {
        const msg = seen.get(seq) ?? (this.leaderOnly ? await this.fromLeader({ seq }) : undefined);
        return expected(msg, subject, seq, versions[i]!);
      }),
    );
  }

  /**
   * One round of a page: the subject's messages at these sequences from the first one on, as
   * many as about one max_payload holds (at least the first), so that no read pulls more than
   * that at once whatever the events' sizes. A long round goes through a consumer (see
   * readByConsumer) while that path works; otherwise, and when a consumer cannot be had (a
   * consumer limit, a meta leader election, no permission), through direct gets. Each message
   * must still hold the version the caller expects there, or the stream changed under the read.
   */
  async round(subject: string, seqs: number[], versions: number[], seen: Map<number, StoredMsg>): Promise<StoredMsg[]> {
    if (seqs.length >= CONSUMER_ROUND && this.consumers.usable) {
      const msgs = await this.byConsumer(subject, seqs, versions).catch((err: unknown) => {
        if (err instanceof StaleIndexError) throw err;
        this.consumers.failed();
        return [];
      });
      if (msgs.length > 0) return msgs;
    }
    return this.byDirectGets(subject, seqs, versions, seen);
  }

  /**
   * A prefix of the run through a consumer. The last message's version confirms it: sequences
   * are never reused within a stream, and a stream replaced under the read is caught by its version.
   */
  private async byConsumer(subject: string, seqs: number[], versions: number[]): Promise<StoredMsg[]> {
    const { stream, timeoutMs } = this.options;
    const got = await readByConsumer(this.nc, this.requester, stream, subject, seqs[0]!, seqs.length, this.roundBytes, timeoutMs);
    const msgs = got.map((d, i): StoredMsg => {
      if (d.seq !== seqs[i]) throw staleAt(subject, seqs[i]!, versions[i]!);
      return { seq: d.seq, subject, version: versions[i]!, data: d.data };
    });
    const last = got.at(-1);
    if (last && Number(last.msg.headers?.get(Headers.version)) !== versions[got.length - 1]) {
      throw staleAt(subject, last.seq, versions[got.length - 1]!);
    }
    return msgs;
  }

  /**
   * A prefix of the sequences through direct gets: at most ROUND_REQUESTS requests at once, each
   * a single message or a run bounded in bytes. It ends where the first message is missing, from
   * what the requests brought or from a replica behind the leader; the next round asks from there,
   * and a missing first message is asked of the leader.
   */
  private async byDirectGets(subject: string, seqs: number[], versions: number[], seen: Map<number, StoredMsg>): Promise<StoredMsg[]> {
    const missing = seqs.filter((seq) => !seen.has(seq));
    const runs = planRuns(missing, this.options.batchDirectGet ? RUN_GAP : 0).slice(0, ROUND_REQUESTS);
    await Promise.all(runs.map((run) => this.getRun(subject, run, seen, this.roundBytes)));
    const msgs: StoredMsg[] = [];
    for (const [i, seq] of seqs.entries()) {
      let msg = seen.get(seq);
      if (!msg && i === 0 && this.leaderOnly) msg = await this.fromLeader({ seq });
      if (!msg && i > 0) break;
      msgs.push(expected(msg, subject, seq, versions[i]!));
    }
    return msgs;
  }

  /** Reads one run into `seen`: a single get, or a batch get of the subject (bounded by maxBytes when given). */
  private async getRun(subject: string, run: SeqRun, seen: Map<number, StoredMsg>, maxBytes?: number): Promise<void> {
    if (run.count === 1) {
      const msg = await this.bySeq(run.start);
      if (msg) seen.set(msg.seq, msg);
      return;
    }
    const request = JSON.stringify({ seq: run.start, next_by_subj: subject, batch: run.count, max_bytes: maxBytes });
    for (const reply of await this.requestMany(request)) {
      const msg = fromDirectGet(reply);
      if (msg.seq <= run.end) seen.set(msg.seq, msg);
    }
  }

  private bySeq(seq: number): Promise<StoredMsg | undefined> {
    return this.directRequest(this.directGet, encoder.encode(JSON.stringify({ seq })), { seq });
  }

  /** One message as the stream leader has it: `$JS.API.STREAM.MSG.GET`, which only the leader answers. */
  private async fromLeader(query: LeaderQuery): Promise<StoredMsg | undefined> {
    const reply = await this.requester.request(this.leaderGet, encoder.encode(JSON.stringify(query)));
    if (reply.headers?.code) throw statusError(reply);
    const r = JSON.parse(decoder.decode(reply.data)) as {
      error?: ApiError;
      message?: { seq: number; subject: string; hdrs?: string; data?: string };
    };
    if (r.error?.err_code === JetStreamApiCodes.NoMessageFound) return undefined;
    if (r.error) throw new JetStreamApiError(r.error);
    const m = r.message;
    if (!m) throw new JetStreamReplyError(`unexpected message get reply ${decoder.decode(reply.data)}`);
    const headers = m.hdrs ? MsgHdrsImpl.decode(Buffer.from(m.hdrs, "base64")) : undefined;
    return toStoredMsg(m.seq, m.subject, headers, m.data ? Buffer.from(m.data, "base64") : new Uint8Array());
  }

  /** A direct get; what another stream (a mirror) answered is asked of this stream's leader instead. */
  private async directRequest(subject: string, payload: Uint8Array, query: LeaderQuery): Promise<StoredMsg | undefined> {
    const reply = await this.requester.request(subject, payload);
    const code = reply.headers?.code ?? 0;
    if (code === 404) return undefined;
    if (code !== 0) throw statusError(reply);
    return this.fromThisStream(reply) ? fromDirectGet(reply) : this.fromLeader(query);
  }

  /** Whether this stream answered a direct get, rather than a mirror of it; remembers mirrors. */
  private fromThisStream(reply: Msg): boolean {
    if (reply.headers?.get(DirectMsgHeaders.Stream) === this.options.stream) return true;
    this.foreignAnswers = true;
    return false;
  }

  /** A server without batch direct gets (< 2.11) gives the next message of a subject one at a time. */
  private async nextOne(subject: string, seq: number): Promise<Msg[]> {
    const reply = await this.requester.request(this.directGet, encoder.encode(JSON.stringify({ seq, next_by_subj: subject })));
    const code = reply.headers?.code ?? 0;
    if (code === 404) return [];
    if (code !== 0) throw statusError(reply);
    // A mirror's answer counts as none: a replica that has not caught up.
    return this.fromThisStream(reply) ? [reply] : [];
  }

  /** Sends one batch direct get and collects its messages up to the end-of-batch marker. */
  private requestMany(payload: string): Promise<Msg[]> {
    return observed(this.requester.observer, "direct_get_batch", this.directGet, () => this.collectMany(payload));
  }

  private async collectMany(payload: string): Promise<Msg[]> {
    const out: Msg[] = [];
    let ended = false;
    const iter = await this.nc.requestMany(this.directGet, payload, { strategy: "sentinel", maxWait: this.options.timeoutMs });
    for await (const msg of iter) {
      const code = msg.headers?.code ?? 0;
      if (code === 0 && msg.data.length > 0) {
        // A batch comes from one responder: a mirror's counts as none, a replica not caught up.
        if (out.length === 0 && !this.fromThisStream(msg)) return [];
        out.push(msg);
        continue;
      }
      ended = true;
      // 204: end of batch; 404: the subject has no (more) messages.
      if (code === 204 || code === 404) break;
      throw statusError(msg);
    }
    if (!ended) throw new JetStreamTimeoutError("JetStream did not finish a read in time; retry");
    return out;
  }
}

type LeaderQuery = { seq: number } | { last_by_subj: string };

/** The message the caller expects at a sequence, or the stream changed under the read. */
function expected(msg: StoredMsg | undefined, subject: string, seq: number, version: number): StoredMsg {
  if (!msg || msg.subject !== subject || msg.version !== version) throw staleAt(subject, seq, version);
  return msg;
}

function staleAt(subject: string, seq: number, version: number): StaleIndexError {
  return new StaleIndexError(`sequence ${seq} no longer holds version ${version} of ${subject}`);
}

/** A direct get reply carries the message's sequence and subject in its headers. */
function fromDirectGet(msg: Msg): StoredMsg {
  const h = msg.headers;
  return toStoredMsg(Number(h?.get(DirectMsgHeaders.Sequence)), h?.get(DirectMsgHeaders.Subject) ?? "", h, msg.data);
}

function toStoredMsg(seq: number, subject: string, h: MsgHdrs | undefined, data: Uint8Array): StoredMsg {
  const version = Number(h?.get(Headers.version));
  const erasedAt = h?.get(Headers.erased) || undefined;
  // A tombstone keeps the version its actor had reached: 0 for an actor erased before any event.
  if (!Number.isSafeInteger(version) || version < (erasedAt ? 0 : 1)) {
    // Skipping it would silently hide part of an actor's history: refuse to answer instead.
    throw new InternalError(`message ${seq} on ${subject} has no valid ${Headers.version} header: not written by eventstore`);
  }
  return erasedAt ? { seq, subject, version, data, erasedAt } : { seq, subject, version, data };
}

/** A stretch of sequences to fetch with one batch direct get: `count` messages of the subject from `start`. */
export interface SeqRun {
  start: number;
  end: number;
  count: number;
}

/**
 * Groups sorted sequences into runs whose neighbours are at most `maxGap` apart: a run is read
 * with one batch get (the server steps over at most maxGap other messages between two of ours),
 * a lone sequence with a plain get by sequence.
 */
export function planRuns(seqs: readonly number[], maxGap: number): SeqRun[] {
  const runs: SeqRun[] = [];
  for (const seq of seqs) {
    const run = runs.at(-1);
    if (run && seq - run.end <= maxGap) {
      run.end = seq;
      run.count++;
    } else {
      runs.push({ start: seq, end: seq, count: 1 });
    }
  }
  return runs;
}
