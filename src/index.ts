// The package's main entry, `nats-eventstore`: the client and its types, and nothing else. The
// service's parts (stores, config, app) are `nats-eventstore/server` (src/server.ts).
export {
  DEFAULT_TIMEOUT_MS,
  EventStoreClient,
  type EventStoreClientOptions,
  type EventsOptions,
  type WriteOptions,
} from "./client/client.js";
export { FencedError, PermissionError, StreamChangedError, toEventStoreError } from "./client/errors.js";
export type { EventsEnd, Loaded, Reducer } from "./client/load.js";
export { LogRead, type ReadOptions } from "./client/log-read.js";
export {
  DEFAULT_PIN_TTL_MS,
  Projection,
  type ProjectionEvents,
  type ProjectionFailure,
  type ProjectionHandler,
  type ProjectionInfo,
  type ProjectionItem,
  type ProjectionMode,
  type ProjectionResetTo,
  type ProjectionStart,
  type ProjectionState,
  type ProjectionStatus,
  type ProjectOptions,
} from "./client/projection.js";
export { KvReadModel } from "./client/read-model.js";
export { DEFAULT_RETRY, type RetryInfo, type RetryOptions } from "./client/retry.js";
export { EventSubscription, type StreamChange, type StreamEvent, type SubscribeOptions, type Tombstone } from "./client/subscribe.js";
export { type EndpointName, Endpoints, type RequestOf, type ResponseOf } from "./contract/endpoints.js";
export {
  ConditionFailedError,
  ErasedError,
  type ErrorBody,
  ErrorCodes,
  EventStoreError,
  type FieldError,
  InternalError,
  NotFoundError,
  NotSupportedError,
  UnavailableError,
  ValidationError,
  VersionConflictError,
} from "./contract/errors.js";
export type { StoredEvent } from "./contract/events.js";
export { actorType, escapeToken, Subjects, unescapeToken } from "./contract/subjects.js";
export type * from "./contract/types.js";
