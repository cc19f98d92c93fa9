// The package's public API: everything a caller may import, and nothing else.
export {
  DEFAULT_TIMEOUT_MS,
  EventStoreClient,
  type EventStoreClientOptions,
  type EventsOptions,
} from "./client/client.js";
export { type Loaded, type Reducer } from "./client/load.js";
export { DEFAULT_RETRY, type RetryInfo, type RetryOptions } from "./client/retry.js";
export { EventSubscription, type StreamEvent, type SubscribeOptions } from "./client/subscribe.js";
export { type Config, ConfigError, loadConfig } from "./config.js";
export {
  ErrorCodes,
  type ErrorBody,
  EventStoreError,
  type FieldError,
  InternalError,
  NotFoundError,
  NotSupportedError,
  PermissionError,
  UnavailableError,
  ValidationError,
  VersionConflictError,
} from "./errors.js";
export type * from "./schemas/types.js";
export { type EventStore, type EventsPage, type ReadOptions, type StoredEvent } from "./store/store.js";
export { JetStreamEventStore } from "./store/jetstream.js";
export { MemoryEventStore } from "./store/memory.js";
export { actorType, Endpoints, escapeToken, Subjects, unescapeToken } from "./subjects.js";
