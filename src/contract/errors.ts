// The wire's errors: what a reply's {"error": {code, ...}} means, on both sides. The client's own
// errors are in src/client/errors.ts; turning what NATS throws into these is each side's own.

/** One trimmed schema violation: where (a JSON pointer into the request) and what. */
export interface FieldError {
  path: string;
  message: string;
}

/** The JSON body of every error reply: `{"error": {code, message, ...details}}`. */
export interface ErrorBody {
  error: { code: number; message: string } & Record<string, unknown>;
}

/**
 * Every failure the service reports carries one of these wire codes; the catalogue is checked by a test.
 * It also names the codes of the client's own errors (src/client/errors.ts), which no reply carries.
 */
export const ErrorCodes = Object.freeze({
  ValidationError: 400,
  PermissionError: 403,
  NotFoundError: 404,
  /** Raised by a client's subscription, never in a reply: the stream it read is gone or another one. */
  StreamChangedError: 404,
  VersionConflictError: 409,
  /** v3: an event matching the write's condition was stored after the condition's position. */
  ConditionFailedError: 409,
  /** Raised by a client's read model, never in a reply: a later activation of the projection wrote. */
  FencedError: 409,
  ErasedError: 410,
  InternalError: 500,
  /** Not a 503: retrying cannot help until an operator acts (docs/operations.md, "A full store"). */
  StoreFullError: 500,
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

  /** What a log line may say of this error: nothing of the request's payload (docs/operations.md). */
  loggable(): string {
    return this.message;
  }
}

export class ValidationError extends EventStoreError {
  override readonly name = "ValidationError";
  readonly code = ErrorCodes.ValidationError;
  constructor(
    message: string,
    readonly errors: FieldError[] = [],
    /** For the log, when the message quotes the request (a JSON parser's message quotes its input). */
    private readonly logText?: string,
  ) {
    super(message);
  }
  override details() {
    return this.errors.length > 0 ? { errors: this.errors } : {};
  }
  /**
   * The caller's reply names the fields (its own data); the log does not: a path holds the
   * request's keys, a key the schema refuses or one inside `data`, which are payload too. The
   * messages beside the paths come from the schemas and the service.
   */
  override loggable(): string {
    if (this.logText !== undefined) return this.logText;
    if (this.errors.length === 0) return this.message;
    return `refused field(s): ${[...new Set(this.errors.map((e) => e.message))].join("; ")}`;
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
    /** For a transaction: every actor that is behind, the first of them in the fields above. */
    readonly conflicts?: { actorId: string; attemptedVersion: number; currentVersion: number }[],
  ) {
    super(message);
  }
  override details() {
    return {
      actorId: this.actorId,
      attemptedVersion: this.attemptedVersion,
      currentVersion: this.currentVersion,
      ...(this.conflicts ? { conflicts: this.conflicts } : {}),
    };
  }
}

/** A write's condition failed: an event matching its query is stored after its `after`; nothing was stored. */
export class ConditionFailedError extends EventStoreError {
  override readonly name = "ConditionFailedError";
  readonly code = ErrorCodes.ConditionFailedError;
  constructor(
    /** The position of the latest event that matches the condition's query. */
    readonly position: number,
    message = `condition failed: an event matching the query is stored at position ${position}`,
  ) {
    super(message);
  }
  override details() {
    return { condition: { position: this.position } };
  }
}

/** The actor was erased: it takes no more writes, and its id stays used. */
export class ErasedError extends EventStoreError {
  override readonly name = "ErasedError";
  readonly code = ErrorCodes.ErasedError;
  constructor(
    readonly actorId: string,
    readonly erasedAt: string,
    message = `actor ${JSON.stringify(actorId)} was erased at ${erasedAt}`,
  ) {
    super(message);
  }
  override details() {
    return { actorId: this.actorId, erasedAt: this.erasedAt };
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

/**
 * JetStream refused to store because a storage limit is reached: the server's (max_file_store),
 * or its account's (max_file, max_mem). Nothing was stored, and trying again cannot help until an
 * operator frees space or raises the limit: a 503 would tell callers to retry, and they would, for
 * as long as the store stays full. So it is a 500, the deployment's failure and not the request's,
 * which clients never retry, and unlike other 500s it tells the caller why.
 */
export class StoreFullError extends EventStoreError {
  override readonly name = "StoreFullError";
  readonly code = ErrorCodes.StoreFullError;
  constructor(jetstreamCode: number, reason: string) {
    super(
      `the event store is full (JetStream ${jetstreamCode}: ${reason}): nothing was stored, and retrying will not help ` +
        `until an operator frees space or raises the storage limit`,
    );
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
