import { type EventStoreError, InternalError, UnavailableError } from "../../contract/errors.js";
import { fromNatsFailure } from "../../contract/nats-failures.js";
import { JetStreamReplyError, JetStreamStatusError, JetStreamTimeoutError, RequestTimeoutError } from "../jetstream/errors.js";

/**
 * THE translation of what the JetStream layer and nats.js throw into the store's errors: every
 * operation of the JetStream store passes its failures through here once, on the way out
 * (translated() below), and nowhere else. A permission NATS refused the service itself (a
 * JetStream publish its user may not make) is the operator's configuration, not the caller's: a
 * 500, with the refusal in the log.
 */
export function toStoreError(err: unknown): EventStoreError {
  if (err instanceof JetStreamStatusError) {
    if (err.status === 503 || err.status === 408)
      return new UnavailableError(`JetStream unavailable (${err.status} ${err.description}); retry`);
    return new InternalError(`unexpected JetStream status ${err.status} ${err.description}`);
  }
  if (err instanceof JetStreamTimeoutError) return new UnavailableError(err.message);
  if (err instanceof JetStreamReplyError) return new InternalError(err.message);
  return fromNatsFailure(
    err,
    (refusal, cause) =>
      new InternalError(`the service's NATS user lacks a permission: ${refusal.message}; see docs/security.md`, { cause }),
    [RequestTimeoutError],
  );
}

/** An operation of the store, its failure translated on the way out. */
export async function translated<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (err) {
    throw toStoreError(err);
  }
}
