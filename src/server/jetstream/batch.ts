import { type ApiError, JetStreamApiError } from "@nats-io/jetstream";
import { type Msg, type MsgHdrs, type NatsConnection, nuid } from "@nats-io/transport-node";
import { JetStreamReplyError, statusError } from "./errors.js";

/** The first nats-server with atomic batch publish, which append and transact need. */
export const ATOMIC_BATCH_SERVER = "2.12.0";

/** One message of an atomic batch: its subject, body and own headers (the batch headers are added here). */
export interface BatchMessage {
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs;
}

// The server confirms a message that asks for a reply, so asking every this many messages (and at
// the first message of a batch longer than that) keeps a large batch from running ahead of the
// stream's inbound queue. A shorter batch waits only for its commit: one round trip, as a publish.
// Nothing is lost by not asking at the first: every refusal of a batch also answers its commit.
const FLOW_CONTROL_EVERY = 100;

/** How a batch asks for a reply (its flow control and its commit), within the caller's timeout. */
export type BatchRequest = (subject: string, data: Uint8Array, headers: MsgHdrs) => Promise<Msg>;

/**
 * Publishes messages, on one subject or several, as one JetStream atomic batch (the Nats-Batch-Id,
 * Nats-Batch-Sequence and Nats-Batch-Commit headers): the stream stores all of them, with
 * consecutive sequences, or none. A batch whose commit never arrives is dropped by the server.
 *
 * Written on core NATS rather than with js.startBatch because that client's commit turns every
 * refusal into the same error; here a refusal is a JetStreamApiError with the server's own code.
 * Resolves to the stream sequence of the last message.
 */
export async function publishAtomicBatch(nc: NatsConnection, messages: BatchMessage[], request: BatchRequest): Promise<number> {
  const batchId = nuid.next();
  const count = messages.length;
  for (const [i, { subject, data, headers }] of messages.entries()) {
    const n = i + 1;
    headers.set("Nats-Batch-Id", batchId);
    headers.set("Nats-Batch-Sequence", String(n));
    if (n === count) headers.set("Nats-Batch-Commit", "1");
    if (n === count || n % FLOW_CONTROL_EVERY === 0 || (n === 1 && count > FLOW_CONTROL_EVERY)) {
      const reply = await request(subject, data, headers);
      const ack = parseReply(reply);
      if (n === count) return committedSeq(ack, count);
    } else {
      nc.publish(subject, data, { headers });
    }
  }
  throw new Error("an atomic batch needs at least one message");
}

interface BatchReply {
  error?: ApiError;
  seq?: number;
  count?: number;
}

/**
 * Flow-control replies are empty; the commit's is a JSON ack; a refusal carries the server's error.
 * A status reply (no responders while the stream has no leader: 503) has no body either, and is
 * the request's failure, as nats.js's request() made it.
 */
function parseReply(reply: Msg): BatchReply | undefined {
  if (reply.headers?.code) throw statusError(reply);
  if (reply.data.length === 0) return undefined;
  const body = reply.json<BatchReply>();
  if (body.error) throw new JetStreamApiError(body.error);
  return body;
}

function committedSeq(ack: BatchReply | undefined, count: number): number {
  if (!ack || ack.count !== count || !Number.isSafeInteger(ack.seq)) {
    throw new JetStreamReplyError(`unexpected atomic batch ack ${JSON.stringify(ack)} for ${count} messages`);
  }
  return ack.seq!;
}
