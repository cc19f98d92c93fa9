// What NATS and JetStream report, read alike by both sides: the JetStream API codes they act on
// (both read the events stream), permission refusals and connectivity failures, and the wire error
// each one means. Each side turns them into its errors in one place of its own: the client's
// toEventStoreError (src/client/errors.ts), the store's toStoreError.
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { errors as natsErrors } from "@nats-io/transport-node";
import { EventStoreError, InternalError, StoreFullError, UnavailableError, ValidationError } from "./errors.js";

/**
 * The JetStream API error codes the service acts on: the library's own constants where
 * `@nats-io/jetstream` exports them, the rest as nats-server's errors.json numbers them.
 */
const Code = Object.freeze({
  /** The account's JetStream limits (max_file, max_mem) are reached. */
  AccountResourcesExceeded: 10002,
  WrongLastSequence: JetStreamApiCodes.StreamWrongLastSequence,
  /** The same refusal without the current sequence: replicated streams and atomic batches in flight. */
  WrongLastSequenceUnknown: JetStreamApiCodes.StreamWrongLastSequenceUnknown,
  StreamNotFound: JetStreamApiCodes.StreamNotFound,
  /** A message delete of a sequence that holds no message (any more). */
  SequenceNotFound: 10043,
  /**
   * A message delete the store failed, with the store's reason: among others a message deleted by
   * another delete a moment before ("no message found").
   */
  MessageDeleteFailed: 10057,
  ConsumerNotFound: JetStreamApiCodes.ConsumerNotFound,
  /** A consumer of this name exists with another configuration. */
  ConsumerExists: 10148,
  /** A replicated stream is storing a message with this id right now: its outcome is not known yet. */
  DuplicateMessageIdInProcess: 10158,
  /** Over the stream's max_msg_size. */
  MessageTooLarge: 10054,
  HeaderTooLarge: 10097,
  StreamSealed: 10109,
  StorageResourcesExceeded: 10047,
  MemoryResourcesExceeded: 10028,
  ClusterNotLeader: 10009,
  StoreFailed: 10077,
  ClusterNotAvailable: 10008,
  InsufficientResources: 10023,
  StreamOffline: 10118,
  AtomicPublishIncompleteBatch: 10176,
  AtomicPublishTooLargeBatch: 10199,
  AtomicPublishDuplicateMessageId: 10201,
  /** The stream has as many atomic batches in flight as it takes (50 by default): nothing is stored. */
  AtomicPublishTooManyInflight: 10210,
} as const);

const hasCode = (err: unknown, ...codes: number[]) => err instanceof JetStreamApiError && codes.includes(err.code);

/** The stream refused a publish's expectation: the subject's last message is not where it was expected. */
export const isWrongLastSequence = (err: unknown) => hasCode(err, Code.WrongLastSequence, Code.WrongLastSequenceUnknown);

/** An atomic batch carried a message id the stream already holds (it checks ids before expectations). */
export const isKnownBatchMsgId = (err: unknown) => hasCode(err, Code.AtomicPublishDuplicateMessageId);

/** A retry that overtook its own original on a replicated stream: the original's outcome is not known yet. */
export const isMsgIdInProcess = (err: unknown) => hasCode(err, Code.DuplicateMessageIdInProcess);

/** The stream refused an atomic batch because it has too many in flight: wait for them and send it again. */
export const isTooManyBatchesInFlight = (err: unknown) => hasCode(err, Code.AtomicPublishTooManyInflight);

/** An atomic batch over the server's batch size limit. */
export const isBatchTooLarge = (err: unknown) => hasCode(err, Code.AtomicPublishTooLargeBatch);

export const isSequenceNotFound = (err: unknown) => hasCode(err, Code.SequenceNotFound);

export const isMessageDeleteFailed = (err: unknown) => hasCode(err, Code.MessageDeleteFailed);

export const isStreamNotFound = (err: unknown) => hasCode(err, Code.StreamNotFound);

export const isConsumerNotFound = (err: unknown) => hasCode(err, Code.ConsumerNotFound);

export const isConsumerExists = (err: unknown) => hasCode(err, Code.ConsumerExists);

// A stored message over the stream's max_msg_size or a header block over 64 KiB: the request, not the store.
const TOO_LARGE: ReadonlySet<number> = new Set([Code.MessageTooLarge, Code.HeaderTooLarge]);

// A storage limit reached: the server's max_file_store or max_memory_store (10023), the account's
// max_file or max_mem (10002), the storage JetStream may use (10047, 10028). Nothing is stored, and
// nothing will be until an operator acts: not a 503, which callers retry.
const FULL: ReadonlySet<number> = new Set([
  Code.AccountResourcesExceeded,
  Code.InsufficientResources,
  Code.StorageResourcesExceeded,
  Code.MemoryResourcesExceeded,
]);

const UNAVAILABLE: ReadonlySet<number> = new Set([
  Code.StreamNotFound,
  Code.ClusterNotAvailable,
  Code.StreamOffline,
  // A store that failed, a leader change, a stream sealed by its operator: nothing is stored.
  Code.StoreFailed,
  Code.ClusterNotLeader,
  Code.StreamSealed,
  // An atomic batch that lost a message on the way, or found the stream busy with others: nothing is stored.
  Code.AtomicPublishIncompleteBatch,
  Code.AtomicPublishTooManyInflight,
]);

/** The error a caller sees for a JetStream API error. */
export function fromJetStreamApiError(err: JetStreamApiError): EventStoreError {
  if (TOO_LARGE.has(err.code)) {
    return new ValidationError(`the request is too large for the stream (JetStream ${err.code}: ${err.message})`);
  }
  if (FULL.has(err.code)) return new StoreFullError(err.code, err.message);
  if (UNAVAILABLE.has(err.code) || err.status === 503) {
    return new UnavailableError(`JetStream unavailable (${err.code}); retry with the same event id`);
  }
  return new InternalError(`JetStream API error ${err.code}: ${err.message}`);
}

/** A permission NATS refused: which operation, on which subject. */
export interface PermissionRefusal {
  operation: string;
  subject: string;
  /** "NATS refused the publish to ...": the same words on both sides. */
  message: string;
}

/**
 * Maps whatever NATS or JetStream threw to a wire error. A permission refusal is each side's own
 * (the client reports it, the service owes it to its operator); `connectivity` adds the side's own
 * timeouts to nats.js's connectivity failures.
 */
export function fromNatsFailure(
  err: unknown,
  refused: (refusal: PermissionRefusal, cause: unknown) => EventStoreError,
  connectivity: readonly (abstract new (...args: never[]) => Error)[] = [],
): EventStoreError {
  if (err instanceof EventStoreError) return err;
  const violation = permissionViolation(err);
  if (violation) {
    const { operation, subject } = violation;
    return refused(
      { operation, subject, message: `NATS refused the ${operation} to ${subject}: not permitted for this connection's user` },
      err,
    );
  }
  if (err instanceof JetStreamApiError) return fromJetStreamApiError(err);
  if (isConnectivityFailure(err, connectivity)) {
    return new UnavailableError(`JetStream unavailable (${(err as Error).message}); retry with the same event id`);
  }
  return new InternalError(err instanceof Error ? err.message : String(err));
}

/** The server's permissions violation, the error itself or its cause (a request reports it as its cause). */
function permissionViolation(err: unknown): InstanceType<typeof natsErrors.PermissionViolationError> | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof natsErrors.PermissionViolationError) return e;
  }
  return undefined;
}

const CONNECTIVITY_ERRORS = [
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
function isConnectivityFailure(err: unknown, more: readonly (abstract new (...args: never[]) => Error)[]): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (CONNECTIVITY_ERRORS.some((c) => e instanceof c) || more.some((c) => e instanceof c)) return true;
  }
  return false;
}
