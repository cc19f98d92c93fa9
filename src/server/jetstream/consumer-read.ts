import { type ApiError, JetStreamApiError } from "@nats-io/jetstream";
import { createInbox, type Msg, type NatsConnection, nuid } from "@nats-io/transport-node";
import { JetStreamTimeoutError } from "./errors.js";
import { observed } from "./observer.js";
import type { Requester } from "./requester.js";

/** One message a consumer delivered: its stream sequence (from the reply subject) and body. */
export interface DeliveredMsg {
  seq: number;
  data: Uint8Array;
  msg: Msg;
}

// A consumer left behind by a process that died mid-read (or whose delete got lost) goes away by itself soon after.
const INACTIVE_NS = 10_000_000_000;
// Creating a consumer takes the JetStream meta layer: while its leader is being elected nobody
// answers, and a read should not wait for the whole JetStream timeout to learn that.
const CREATE_TIMEOUT_MS = 1000;
// After the consumer path failed, reads skip it for this long (they read with direct gets), so
// that a consumer limit or a meta election does not cost every read a failed create.
export const CONSUMER_PAUSE_MS = 30_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The next `count` messages of one subject from `fromSeq`, at most `maxBytes` of them as the
 * server counts (subject, reply, headers and body), through a short-lived consumer. A consumer's
 * deliveries carry their stream sequence in the reply subject, so no header block is decoded: for
 * long runs this is over twice as fast as batch direct gets, whose sequence is in the headers.
 * Resolves to fewer messages than asked when the bytes run out or the replica that serves the
 * consumer has no more (it may lag behind the leader); the caller decides what that means.
 * Rejects when the consumer cannot be created or read: the caller reads another way.
 */
export async function readByConsumer(
  nc: NatsConnection,
  requester: Requester,
  stream: string,
  subject: string,
  fromSeq: number,
  count: number,
  maxBytes: number,
  timeoutMs: number,
): Promise<DeliveredMsg[]> {
  const name = `eventstore_read_${nuid.next()}`;
  const config = {
    name,
    filter_subject: subject,
    deliver_policy: "by_start_sequence",
    opt_start_seq: fromSeq,
    ack_policy: "none",
    mem_storage: true,
    num_replicas: 1,
    inactive_threshold: INACTIVE_NS,
  };
  const create = `$JS.API.CONSUMER.CREATE.${stream}.${name}.${subject}`;
  const created = await observed(requester.observer, "consumer", create, async () => {
    return await nc.request(create, encoder.encode(JSON.stringify({ stream_name: stream, config, action: "create" })), {
      timeout: Math.min(timeoutMs, CREATE_TIMEOUT_MS),
    });
  });
  const r = JSON.parse(decoder.decode(created.data)) as { error?: ApiError };
  if (r.error) throw new JetStreamApiError(r.error);
  try {
    return await pull(nc, `$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`, count, maxBytes, timeoutMs);
  } finally {
    // Not awaited: the page does not wait for it, and a delete that fails leaves a consumer that
    // goes away by itself after INACTIVE_NS.
    requester.request(`$JS.API.CONSUMER.DELETE.${stream}.${name}`, new Uint8Array()).catch(() => {});
  }
}

/**
 * One pull of `count` messages or `maxBytes` that does not wait for more than the consumer has now.
 * The server ends a pull with a status message, except when the bytes run out exactly: then it
 * sends nothing more, so the deliveries are counted as it counts them.
 */
function pull(nc: NatsConnection, next: string, count: number, maxBytes: number, timeoutMs: number): Promise<DeliveredMsg[]> {
  const inbox = createInbox((nc as NatsConnection & { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
  const out: DeliveredMsg[] = [];
  let bytes = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new JetStreamTimeoutError("JetStream did not finish a read in time; retry")), timeoutMs);
    const sub = nc.subscribe(inbox, {
      callback: (err, msg) => {
        if (err) return finish(err);
        // Deliveries have an ack subject; a message without one is the status that ends the pull.
        if (!msg.reply) return finish();
        out.push({ seq: ackSequence(msg.reply), data: msg.data, msg });
        bytes += countedBytes(msg);
        if (out.length === count || bytes >= maxBytes) finish();
      },
    });
    function finish(err?: Error) {
      clearTimeout(timer);
      sub.unsubscribe();
      if (err) reject(err);
      else resolve(out);
    }
    try {
      nc.publish(next, encoder.encode(JSON.stringify({ batch: count, max_bytes: maxBytes, no_wait: true })), { reply: inbox });
    } catch (err) {
      finish(err as Error);
    }
  });
}

/**
 * What a delivery counts against a pull's max_bytes: subject, reply, header block and body, as
 * nats.js's messages report it (`size()`, not in its Msg interface).
 */
function countedBytes(msg: Msg): number {
  return (msg as Msg & { size(): number }).size();
}

/**
 * The stream sequence in a delivery's ack subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>...`,
 * or with the domain and account hash after `$JS.ACK` (9 tokens after it, and a random one).
 */
function ackSequence(reply: string): number {
  const t = reply.split(".");
  return Number(t.length >= 12 ? t[7] : t[5]);
}

/** Whether reads try the consumer path now: not for a while after it failed (see CONSUMER_PAUSE_MS). */
export class ConsumerPath {
  private failedAt = Number.NEGATIVE_INFINITY;

  get usable(): boolean {
    return Date.now() - this.failedAt >= CONSUMER_PAUSE_MS;
  }

  failed(): void {
    this.failedAt = Date.now();
  }
}
