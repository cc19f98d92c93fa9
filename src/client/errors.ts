// The client's own errors: raised in the caller's process, never carried in a reply. Their codes
// are in the catalogue (ErrorCodes) beside the wire's.
import { ErrorCodes, EventStoreError } from "../contract/errors.js";
import { fromNatsFailure } from "../contract/nats-failures.js";

/**
 * A subscription's stream is not the one it was reading: deleted (missing), or deleted and created
 * again or restored (replaced), so that its sequences start over. Subscribe with followNewStream to
 * read the new stream from its start instead.
 */
export class StreamChangedError extends EventStoreError {
  override readonly name = "StreamChangedError";
  readonly code = ErrorCodes.StreamChangedError;
  constructor(
    readonly stream: string,
    readonly reason: "missing" | "replaced",
  ) {
    super(
      reason === "missing"
        ? `stream ${stream} is missing: it was deleted`
        : `stream ${stream} was replaced (deleted and created again, or restored): its sequences start over`,
    );
  }
  override details() {
    return { stream: this.stream, reason: this.reason };
  }
}

/**
 * A write of an ordered projection's handler was refused: a later activation of the projection (in
 * another process, after this one was paused or cut off) has written since. The projection stops
 * handling in this process and waits as a standby; it does not retry.
 */
export class FencedError extends EventStoreError {
  override readonly name = "FencedError";
  readonly code = ErrorCodes.FencedError;
}

/**
 * NATS refused a publish or subscribe for the connection's permissions. Retrying cannot help: the
 * typed clients report it as is and never retry it. The service never answers with it: a caller's
 * request it refused never reached the service, and the service's own refusal is its operator's bug.
 */
export class PermissionError extends EventStoreError {
  override readonly name = "PermissionError";
  readonly code = ErrorCodes.PermissionError;
  constructor(
    message: string,
    readonly operation: string,
    readonly subject: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
  override details() {
    return { operation: this.operation, subject: this.subject };
  }
}

/** What NATS or JetStream threw in the client, as the error the caller sees. */
export function toEventStoreError(err: unknown): EventStoreError {
  return fromNatsFailure(err, (refusal, cause) => new PermissionError(refusal.message, refusal.operation, refusal.subject, { cause }));
}
