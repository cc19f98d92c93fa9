import type { Msg } from "@nats-io/transport-node";

// The JetStream layer's own failures, beside what nats.js throws (its connection errors and
// JetStreamApiError, which this layer throws as they are). The store's JetStream backend turns
// all of them into the store's errors in one place (src/server/jetstream-store/translate.ts).

/** No reply within the timeout. */
export class RequestTimeoutError extends Error {
  override readonly name = "RequestTimeoutError";
}

/** JetStream answered with a status instead of a message: a 503 or 408 when it is away or busy. */
export class JetStreamStatusError extends Error {
  override readonly name = "JetStreamStatusError";
  constructor(
    readonly status: number,
    readonly description: string,
  ) {
    super(`JetStream status ${status} ${description}`);
  }
}

/** JetStream did not finish something in time (a read, a replica's catching up). */
export class JetStreamTimeoutError extends Error {
  override readonly name = "JetStreamTimeoutError";
}

/** A reply that is not what the JetStream API answers, or a message the layer cannot read. */
export class JetStreamReplyError extends Error {
  override readonly name = "JetStreamReplyError";
}

/** A JetStream reply that carries a status instead of a message. */
export function statusError(msg: Msg): JetStreamStatusError {
  return new JetStreamStatusError(msg.headers?.code ?? 0, msg.headers?.description ?? "");
}
