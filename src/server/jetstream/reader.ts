import { setTimeout as sleep } from "node:timers/promises";
import { type ApiError, DirectMsgHeaders, JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { Empty, type Msg, type MsgHdrs, MsgHdrsImpl, type NatsConnection } from "@nats-io/transport-node";
import { ConsumerPath, type DeliveredMsg, readByConsumer } from "./consumer-read.js";
import { JetStreamReplyError, JetStreamTimeoutError, statusError } from "./errors.js";
import { observed } from "./observer.js";
import type { Requester } from "./requester.js";

/** What every message the reader returns carries: where it is in the stream. */
export interface StreamMsg {
  seq: number;
  subject: string;
}

/**
 * What the reader knows of the messages it reads, from the layer that wrote them: how one decodes
 * (M), and what the caller expects at a sequence (E) so that a changed stream is caught.
 */
export interface MessageCodec<M extends StreamMsg, E> {
  /** Decodes one message, once, as it arrives; throws for a message the caller must not read. */
  decode(seq: number, subject: string, headers: MsgHdrs | undefined, data: Uint8Array): M;
  /** The message a consumer delivered at seq, taken to be the expected one without decoding its headers. */
  assume(seq: number, subject: string, expected: E, data: Uint8Array): M;
  /** Whether a decoded message is the one expected. */
  holds(msg: M, expected: E): boolean;
  /** Whether a message's headers are those of the one expected. */
  headersHold(headers: MsgHdrs | undefined, expected: E): boolean;
  /** The error for a stream that no longer holds what the caller expects (deleted, purged, recreated). */
  changed(message: string): Error;
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

const decoder = new TextDecoder();

/**
 * Reads the messages of one stream: by subject, by sequence, and whole subjects in order. The
 * codec decodes each message once and says whether one is what the caller expects.
 */
export class StreamReader<M extends StreamMsg, E> {
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
    private readonly codec: MessageCodec<M, E>,
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
  private last(subject: string): Promise<M | undefined> {
    return this.directRequest(`${this.directGet}.${subject}`, Empty, { last_by_subj: subject });
  }

  /**
   * The subject's last message with every acknowledged write in it, from this stream: the
   * leader's, on a replicated stream or once a mirror answered for it. A subject filter with a
   * wildcard is asked of the leader too: a direct get takes the subject in its own, which cannot hold one.
   */
  current(subject: string): Promise<M | undefined> {
    return this.leaderOnly || /[*>]/.test(subject) ? this.fromLeader({ last_by_subj: subject }) : this.last(subject);
  }

  /**
   * Walks one subject's messages in stream order, from fromSeq, until visit returns false or the
   * history ends. The server marks the end of each batch, so no read waits for a timeout to learn
   * that there is nothing more. A replica that has not applied the latest writes ends early; with
   * untilSeq, the history ends only once that sequence has been seen, and a batch that ends short
   * is asked again from where it stopped. (min_last_seq does not stop a short batch on 2.15.)
   */
  async scan(subject: string, fromSeq: number, untilSeq: number, visit: (msg: M) => boolean): Promise<void> {
    const deadline = Date.now() + this.options.timeoutMs;
    let seq = fromSeq;
    for (;;) {
      const replies = this.options.batchDirectGet
        ? await this.requestMany(JSON.stringify({ seq, next_by_subj: subject, batch: SCAN_BATCH, max_bytes: this.roundBytes }))
        : await this.nextOne(subject, seq);
      let last: M | undefined;
      for (const reply of replies) {
        last = this.fromDirectGet(reply);
        if (!visit(last)) return;
      }
      if (last) seq = last.seq + 1;
      // A batch says how many more there are; a single get only that it found one.
      const more = this.options.batchDirectGet ? Number(replies.at(-1)?.headers?.get(DirectMsgHeaders.NumPending) ?? "0") > 0 : !!last;
      if (last && more) continue;
      if (seq > untilSeq) return;
      // Short of untilSeq: a replica (or a mirror) that has not caught up yet, or the message there is gone.
      if (!this.leaderOnly || (await this.fromLeader({ last_by_subj: subject }))?.seq !== untilSeq) {
        throw this.codec.changed(`${subject} no longer ends at sequence ${untilSeq}`);
      }
      if (Date.now() > deadline) throw new JetStreamTimeoutError("no replica of the stream caught up with its leader in time; retry");
      await sleep(CATCH_UP_PAUSE_MS);
    }
  }

  /**
   * The message at a sequence as the stream holds it now, whatever its subject: the leader's on a
   * replicated stream or once a mirror answered for it; undefined when there is none (deleted).
   */
  at(seq: number): Promise<M | undefined> {
    return this.leaderOnly ? this.fromLeader({ seq }) : this.bySeq(seq);
  }

  /**
   * The subject's last message at or below upToSeq (a batch direct get with multi_last), undefined
   * when it has none there. A replica behind the leader may lack newer messages of the subject up
   * to upToSeq: where reads ask the leader, it is asked for what follows the answer.
   */
  async lastUpTo(subject: string, upToSeq: number): Promise<M | undefined> {
    let found: M | undefined;
    if (this.options.batchDirectGet) {
      const replies = await this.requestMany(JSON.stringify({ multi_last: [subject], up_to_seq: upToSeq }));
      const reply = replies.at(-1);
      found = reply && this.fromDirectGet(reply);
      if (!this.leaderOnly) return found;
    }
    for (;;) {
      const next = await this.fromLeader({ seq: (found?.seq ?? 0) + 1, next_by_subj: subject });
      if (!next || next.seq > upToSeq) return found;
      found = next;
    }
  }

  /**
   * The messages of a subject (wildcards allowed) from fromSeq through untilSeq in stream order, one
   * batch at a time: each at most `batch()` messages and about one max_payload, so that the caller
   * can stop after any batch. Complete through untilSeq as the stream holds it now: where the
   * replica that answered had nothing more (it may lag behind the leader, or be a mirror), the
   * leader gives the next message, on a replicated stream or once a mirror answered.
   */
  async *range(subject: string, fromSeq: number, untilSeq: number, batch: () => number): AsyncGenerator<M[]> {
    let seq = fromSeq;
    while (seq <= untilSeq) {
      const replies = this.options.batchDirectGet
        ? await this.requestMany(JSON.stringify({ seq, next_by_subj: subject, batch: batch(), max_bytes: this.roundBytes }))
        : await this.nextOne(subject, seq);
      const msgs = replies.map((reply) => this.fromDirectGet(reply)).filter((msg) => msg.seq <= untilSeq);
      const last = msgs.at(-1);
      const beyond = msgs.length < replies.length;
      // A batch says how many more there are; a single get only that it found one.
      const pending = this.options.batchDirectGet ? Number(replies.at(-1)?.headers?.get(DirectMsgHeaders.NumPending) ?? "0") : 1;
      const endedShort = replies.length === 0 || (pending === 0 && last !== undefined && last.seq < untilSeq);
      if (endedShort && this.leaderOnly) {
        const next = await this.fromLeader({ seq: (last?.seq ?? seq - 1) + 1, next_by_subj: subject });
        if (next && next.seq <= untilSeq) msgs.push(next);
      }
      if (msgs.length > 0) yield msgs;
      const end = msgs.at(-1);
      // Past untilSeq, or nothing more anywhere.
      if (!end || beyond || (endedShort && end === last)) return;
      seq = end.seq + 1;
    }
  }

  /**
   * The subject's messages at these sequences, in order. Close sequences are read as runs with one
   * batch get each, the rest one by one, all at once; whatever a lagging replica did not return is
   * asked of the stream leader. `seen` holds messages already at hand and receives the new ones.
   * Each sequence must still hold what the caller expects there, or the stream changed.
   */
  async fetch(subject: string, seqs: number[], expect: E[], seen: Map<number, M>): Promise<M[]> {
    const missing = seqs.filter((seq) => !seen.has(seq));
    const runs = planRuns(missing, this.options.batchDirectGet ? RUN_GAP : 0);
    await Promise.all(runs.map((run) => this.getRun(subject, run, seen)));
    return Promise.all(
      seqs.map(async (seq, i) => {
        const msg = seen.get(seq) ?? (this.leaderOnly ? await this.fromLeader({ seq }) : undefined);
        return this.expected(msg, subject, seq, expect[i]!);
      }),
    );
  }

  /**
   * One round of a page: the subject's messages at these sequences from the first one on, as
   * many as about one max_payload holds (at least the first), so that no read pulls more than
   * that at once whatever the events' sizes. A long round goes through a consumer (see
   * readByConsumer) while that path works; otherwise, and when a consumer cannot be had (a
   * consumer limit, a meta leader election, no permission), through direct gets. Each message
   * must still hold what the caller expects there, or the stream changed under the read.
   */
  async round(subject: string, seqs: number[], expect: E[], seen: Map<number, M>): Promise<M[]> {
    if (seqs.length >= CONSUMER_ROUND && this.consumers.usable) {
      const { stream, timeoutMs } = this.options;
      const got = await readByConsumer(this.nc, this.requester, stream, subject, seqs[0]!, seqs.length, this.roundBytes, timeoutMs).catch(
        () => {
          this.consumers.failed();
          return [];
        },
      );
      if (got.length > 0) return this.confirmed(subject, seqs, expect, got);
    }
    return this.byDirectGets(subject, seqs, expect, seen);
  }

  /**
   * The prefix of the run a consumer delivered. The last message's headers confirm it: sequences
   * are never reused within a stream, and a stream replaced under the read is caught by them.
   */
  private confirmed(subject: string, seqs: number[], expect: E[], got: DeliveredMsg[]): M[] {
    const msgs = got.map((d, i): M => {
      if (d.seq !== seqs[i]) throw this.staleAt(subject, seqs[i]!);
      return this.codec.assume(d.seq, subject, expect[i]!, d.data);
    });
    const last = got.at(-1)!;
    if (!this.codec.headersHold(last.msg.headers, expect[got.length - 1]!)) throw this.staleAt(subject, last.seq);
    return msgs;
  }

  /**
   * A prefix of the sequences through direct gets: at most ROUND_REQUESTS requests at once, each
   * a single message or a run bounded in bytes. It ends where the first message is missing, from
   * what the requests brought or from a replica behind the leader; the next round asks from there,
   * and a missing first message is asked of the leader.
   */
  private async byDirectGets(subject: string, seqs: number[], expect: E[], seen: Map<number, M>): Promise<M[]> {
    const missing = seqs.filter((seq) => !seen.has(seq));
    const runs = planRuns(missing, this.options.batchDirectGet ? RUN_GAP : 0).slice(0, ROUND_REQUESTS);
    await Promise.all(runs.map((run) => this.getRun(subject, run, seen, this.roundBytes)));
    const msgs: M[] = [];
    for (const [i, seq] of seqs.entries()) {
      let msg = seen.get(seq);
      if (!msg && i === 0 && this.leaderOnly) msg = await this.fromLeader({ seq });
      if (!msg && i > 0) break;
      msgs.push(this.expected(msg, subject, seq, expect[i]!));
    }
    return msgs;
  }

  /** Reads one run into `seen`: a single get, or a batch get of the subject (bounded by maxBytes when given). */
  private async getRun(subject: string, run: SeqRun, seen: Map<number, M>, maxBytes?: number): Promise<void> {
    if (run.count === 1) {
      const msg = await this.bySeq(run.start);
      if (msg) seen.set(msg.seq, msg);
      return;
    }
    const request = JSON.stringify({ seq: run.start, next_by_subj: subject, batch: run.count, max_bytes: maxBytes });
    for (const reply of await this.requestMany(request)) {
      const msg = this.fromDirectGet(reply);
      if (msg.seq <= run.end) seen.set(msg.seq, msg);
    }
  }

  private bySeq(seq: number): Promise<M | undefined> {
    return this.directRequest(this.directGet, Buffer.from(JSON.stringify({ seq })), { seq });
  }

  /** One message as the stream leader has it: `$JS.API.STREAM.MSG.GET`, which only the leader answers. */
  private async fromLeader(query: LeaderQuery): Promise<M | undefined> {
    const reply = await this.requester.request(this.leaderGet, Buffer.from(JSON.stringify(query)));
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
    return this.codec.decode(m.seq, m.subject, headers, m.data ? Buffer.from(m.data, "base64") : new Uint8Array());
  }

  /** A direct get; what another stream (a mirror) answered is asked of this stream's leader instead. */
  private async directRequest(subject: string, payload: Uint8Array, query: LeaderQuery): Promise<M | undefined> {
    const reply = await this.requester.request(subject, payload);
    const code = reply.headers?.code ?? 0;
    if (code === 404) return undefined;
    if (code !== 0) throw statusError(reply);
    return this.fromThisStream(reply) ? this.fromDirectGet(reply) : this.fromLeader(query);
  }

  /** Whether this stream answered a direct get, rather than a mirror of it; remembers mirrors. */
  private fromThisStream(reply: Msg): boolean {
    if (reply.headers?.get(DirectMsgHeaders.Stream) === this.options.stream) return true;
    this.foreignAnswers = true;
    return false;
  }

  /** A server without batch direct gets (< 2.11) gives the next message of a subject one at a time. */
  private async nextOne(subject: string, seq: number): Promise<Msg[]> {
    const reply = await this.requester.request(this.directGet, Buffer.from(JSON.stringify({ seq, next_by_subj: subject })));
    const code = reply.headers?.code ?? 0;
    if (code === 404) return [];
    if (code !== 0) throw statusError(reply);
    // A mirror's answer counts as none: a replica that has not caught up.
    return this.fromThisStream(reply) ? [reply] : [];
  }

  /** A direct get reply carries the message's sequence and subject in its headers. */
  private fromDirectGet(msg: Msg): M {
    const h = msg.headers;
    return this.codec.decode(Number(h?.get(DirectMsgHeaders.Sequence)), h?.get(DirectMsgHeaders.Subject) ?? "", h, msg.data);
  }

  /** The message the caller expects at a sequence, or the stream changed under the read. */
  private expected(msg: M | undefined, subject: string, seq: number, expected: E): M {
    if (!msg || msg.subject !== subject || !this.codec.holds(msg, expected)) throw this.staleAt(subject, seq);
    return msg;
  }

  private staleAt(subject: string, seq: number): Error {
    return this.codec.changed(`sequence ${seq} of ${subject} no longer holds the message expected there`);
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

type LeaderQuery = { seq: number } | { last_by_subj: string } | { seq: number; next_by_subj: string };

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
