import { JetStreamApiError } from "@nats-io/jetstream";
import { errors as natsErrors } from "@nats-io/transport-node";
import { RequestTimeoutError } from "./jetstream/requester.js";

/** One trimmed schema violation: where (a JSON pointer into the request) and what. */
export interface FieldError {
  path: string;
  message: string;
}

/** The JSON body of every error reply: `{"error": {code, message, ...details}}`. */
export interface ErrorBody {
  error: { code: number; message: string } & Record<string, unknown>;
}

/** Every failure the service reports carries one of these wire codes; the catalogue is checked by a test. */
export const ErrorCodes = Object.freeze({
  ValidationError: 400,
  NotFoundError: 404,
  VersionConflictError: 409,
  InternalError: 500,
  NotSupportedError: 501,
  UnavailableError: 503,
} as const);

export abstract class EventStoreError extends Error {
  abstract readonly code: number;

  /** Details that travel in the reply body beside code and message. */
  details(): Record<string, unknown> {
    return {};
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...this.details() } };
  }
}

export class ValidationError extends EventStoreError {
  override readonly name = "ValidationError";
  readonly code = ErrorCodes.ValidationError;
  constructor(
    message: string,
    readonly errors: FieldError[] = [],
  ) {
    super(message);
  }
  override details() {
    return this.errors.length > 0 ? { errors: this.errors } : {};
  }
}

export class NotFoundError extends EventStoreError {
  override readonly name = "NotFoundError";
  readonly code = ErrorCodes.NotFoundError;
}

export class VersionConflictError extends EventStoreError {
  override readonly name = "VersionConflictError";
  readonly code = ErrorCodes.VersionConflictError;
  constructor(
    readonly actorId: string,
    readonly attemptedVersion: number,
    readonly currentVersion: number,
    message = `version conflict for actor ${JSON.stringify(actorId)}: attempted version ${attemptedVersion}, current version ${currentVersion}`,
  ) {
    super(message);
  }
  override details() {
    return { actorId: this.actorId, attemptedVersion: this.attemptedVersion, currentVersion: this.currentVersion };
  }
}

/** A bug or a broken invariant. Its message is for the log; callers see a generic one. */
export class InternalError extends EventStoreError {
  override readonly name = "InternalError";
  readonly code = ErrorCodes.InternalError;
  override toBody(): ErrorBody {
    return { error: { code: this.code, message: "internal error" } };
  }
}

export class NotSupportedError extends EventStoreError {
  override readonly name = "NotSupportedError";
  readonly code = ErrorCodes.NotSupportedError;
  constructor(
    message: string,
    readonly requiredServerVersion: string,
  ) {
    super(message);
  }
  override details() {
    return { requiredServerVersion: this.requiredServerVersion };
  }
}

/** JetStream is away or too slow. Retrying with the same event id is safe. */
export class UnavailableError extends EventStoreError {
  override readonly name = "UnavailableError";
  readonly code = ErrorCodes.UnavailableError;
}

/** JetStream API error codes we act on (see nats-server's errors.json). */
export const JsErrorCode = Object.freeze({
  WrongLastSequence: 10071,
  /** The same refusal without the current sequence: replicated streams and atomic batches in flight. */
  WrongLastSequenceConstant: 10164,
  /** A replicated stream is storing a message with this id right now: its outcome is not known yet. */
  DuplicateMessageIdInProcess: 10158,
  StreamNotFound: 10059,
  ClusterNotAvailable: 10008,
  InsufficientResources: 10023,
  StreamOffline: 10118,
  AtomicPublishDisabled: 10174,
  AtomicPublishIncompleteBatch: 10176,
  AtomicPublishTooLargeBatch: 10199,
  AtomicPublishDuplicateMessageId: 10201,
  AtomicPublishTooManyInflight: 10210,
} as const);

export function hasJsCode(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

export function isWrongLastSequence(err: unknown): boolean {
  return hasJsCode(err, JsErrorCode.WrongLastSequence) || hasJsCode(err, JsErrorCode.WrongLastSequenceConstant);
}

const UNAVAILABLE_JS_CODES: ReadonlySet<number> = new Set([
  JsErrorCode.StreamNotFound,
  JsErrorCode.ClusterNotAvailable,
  JsErrorCode.InsufficientResources,
  JsErrorCode.StreamOffline,
  // An atomic batch that lost a message on the way, or found the stream busy with others: nothing is stored.
  JsErrorCode.AtomicPublishIncompleteBatch,
  JsErrorCode.AtomicPublishTooManyInflight,
]);

/** Maps whatever NATS or JetStream threw to the error the caller sees. */
export function toEventStoreError(err: unknown): EventStoreError {
  if (err instanceof EventStoreError) return err;
  if (err instanceof JetStreamApiError) {
    if (UNAVAILABLE_JS_CODES.has(err.code) || err.status === 503) {
      return new UnavailableError(`JetStream unavailable (${err.code}); retry with the same event id`);
    }
    return new InternalError(`JetStream API error ${err.code}: ${err.message}`);
  }
  if (isConnectivityFailure(err)) {
    return new UnavailableError(`JetStream unavailable (${(err as Error).message}); retry with the same event id`);
  }
  return new InternalError(err instanceof Error ? err.message : String(err));
}

const CONNECTIVITY_ERRORS = [
  RequestTimeoutError,
  natsErrors.TimeoutError,
  natsErrors.NoRespondersError,
  natsErrors.RequestError,
  natsErrors.ClosedConnectionError,
  natsErrors.DrainingConnectionError,
];

/**
 * A timeout, no responders or a closed connection, possibly wrapped: the JetStream client reports
 * a publish that no stream answered as "jetstream is not enabled" with the no-responders as cause.
 */
function isConnectivityFailure(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (CONNECTIVITY_ERRORS.some((c) => e instanceof c)) return true;
  }
  return false;
}
