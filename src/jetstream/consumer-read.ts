import { type ApiError, JetStreamApiError } from "@nats-io/jetstream";
import { createInbox, type Msg, type NatsConnection, nuid } from "@nats-io/transport-node";
import { toEventStoreError, UnavailableError } from "../errors.js";
import { request } from "./request.js";
import type { Requester } from "./requester.js";

/** One message a consumer delivered: its stream sequence (from the reply subject) and body. */
export interface DeliveredMsg {
  seq: number;
  data: Uint8Array;
  msg: Msg;
}

// A consumer left behind by a process that died mid-read goes away by itself soon after.
const INACTIVE_NS = 10_000_000_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The next `count` messages of one subject from `fromSeq`, through a short-lived consumer. A
 * consumer's deliveries carry their stream sequence in the reply subject, so no header block is
 * decoded: for long runs this is over twice as fast as batch direct gets, whose sequence is in the
 * headers. Resolves to fewer messages than asked when the replica that serves the consumer has no
 * more (it may lag behind the leader); the caller decides what that means.
 */
export async function readByConsumer(
  nc: NatsConnection,
  requester: Requester,
  stream: string,
  subject: string,
  fromSeq: number,
  count: number,
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
  const created = await request(
    requester,
    `$JS.API.CONSUMER.CREATE.${stream}.${name}.${subject}`,
    encoder.encode(JSON.stringify({ stream_name: stream, config, action: "create" })),
  );
  const r = JSON.parse(decoder.decode(created.data)) as { error?: ApiError };
  if (r.error) throw toEventStoreError(new JetStreamApiError(r.error));
  try {
    return await pull(nc, `$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`, count, timeoutMs);
  } finally {
    await request(requester, `$JS.API.CONSUMER.DELETE.${stream}.${name}`, new Uint8Array());
  }
}

/** One pull of `count` messages that does not wait for more than the consumer has now. */
function pull(nc: NatsConnection, next: string, count: number, timeoutMs: number): Promise<DeliveredMsg[]> {
  const inbox = createInbox((nc as NatsConnection & { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
  const out: DeliveredMsg[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new UnavailableError("JetStream did not finish a read in time; retry")), timeoutMs);
    const sub = nc.subscribe(inbox, {
      callback: (err, msg) => {
        if (err) return finish(toEventStoreError(err));
        // Deliveries have an ack subject; a message without one is the status that ends the pull.
        if (!msg.reply) return finish();
        out.push({ seq: ackSequence(msg.reply), data: msg.data, msg });
        if (out.length === count) finish();
      },
    });
    function finish(err?: Error) {
      clearTimeout(timer);
      sub.unsubscribe();
      if (err) reject(err);
      else resolve(out);
    }
    try {
      nc.publish(next, encoder.encode(JSON.stringify({ batch: count, no_wait: true })), { reply: inbox });
    } catch (err) {
      finish(toEventStoreError(err));
    }
  });
}

/**
 * The stream sequence in a delivery's ack subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>...`,
 * or with the domain and account hash after `$JS.ACK` (9 tokens after it, and a random one).
 */
function ackSequence(reply: string): number {
  const t = reply.split(".");
  return Number(t.length >= 12 ? t[7] : t[5]);
}
