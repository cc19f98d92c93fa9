import { type EventStoreError, InternalError } from "../../contract/errors.js";
import { fromNatsFailure } from "../../contract/nats-failures.js";
import { RequestTimeoutError } from "../../jetstream/requester.js";

/**
 * What NATS or JetStream threw in the service, as the store's error. A permission NATS refused the
 * service itself (a JetStream publish its user may not make) is the operator's configuration, not
 * the caller's: a 500, with the refusal in the log.
 */
export function toStoreError(err: unknown): EventStoreError {
  return fromNatsFailure(
    err,
    (refusal, cause) =>
      new InternalError(`the service's NATS user lacks a permission: ${refusal.message}; see docs/security.md`, { cause }),
    [RequestTimeoutError],
  );
}
