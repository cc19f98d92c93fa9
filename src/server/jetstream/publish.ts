import { type ApiError, JetStreamApiError, PubHeaders } from "@nats-io/jetstream";
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import { JetStreamReplyError, statusError } from "./errors.js";
import type { Requester } from "./requester.js";

/** What the publish of one message expects of the stream, and the headers it carries besides. */
export interface PublishOptions {
  /** Nats-Msg-Id: JetStream's duplicate window recognises a message sent again. */
  msgId?: string;
  /** Nats-Expected-Last-Subject-Sequence: the subject's last message must be at this sequence (0: none). */
  lastSubjectSeq?: number;
  /** Nats-Expected-Last-Subject-Sequence-Subject: the subject lastSubjectSeq is about, when not the message's own. */
  lastSubjectSeqSubject?: string;
  /** Nats-Expected-Last-Sequence: the stream's last message must be at this sequence (a batch's first message only). */
  lastSeq?: number;
  headers?: Record<string, string>;
}

export interface PubAck {
  seq: number;
  duplicate: boolean;
}

const decoder = new TextDecoder();

/** The headers of a message to the stream: its own, then the expectations. */
export function publishHeaders(options: PublishOptions): MsgHdrs {
  const h = natsHeaders();
  const own = options.headers;
  if (own) for (const k of Object.keys(own)) h.set(k, own[k]!);
  if (options.msgId !== undefined) h.set(PubHeaders.MsgIdHdr, options.msgId);
  if (options.lastSubjectSeq !== undefined) h.set(PubHeaders.ExpectedLastSubjectSequenceHdr, String(options.lastSubjectSeq));
  if (options.lastSubjectSeqSubject !== undefined) h.set(PubHeaders.ExpectedLastSubjectSequenceSubjectHdr, options.lastSubjectSeqSubject);
  if (options.lastSeq !== undefined) h.set(PubHeaders.ExpectedLastSeqHdr, String(options.lastSeq));
  return h;
}

/** Publishes to a stream and resolves to its ack; a refusal rejects with the server's JetStream error. */
export async function publish(requester: Requester, subject: string, body: Uint8Array, options: PublishOptions): Promise<PubAck> {
  const reply = await requester.request(subject, body, publishHeaders(options));
  if (reply.headers?.code) throw statusError(reply);
  const ack = JSON.parse(decoder.decode(reply.data)) as { error?: ApiError; seq?: number; duplicate?: boolean };
  if (ack.error) throw new JetStreamApiError(ack.error);
  if (!Number.isSafeInteger(ack.seq)) throw new JetStreamReplyError(`unexpected publish ack ${decoder.decode(reply.data)}`);
  return { seq: ack.seq!, duplicate: ack.duplicate === true };
}
