// The package's public API: everything a caller may import, and nothing else.
export {
  DEFAULT_TIMEOUT_MS,
  EventStoreClient,
  type EventStoreClientOptions,
  type EventsOptions,
} from "./client/client.js";
export type { Loaded, Reducer } from "./client/load.js";
export { DEFAULT_RETRY, type RetryInfo, type RetryOptions } from "./client/retry.js";
export { EventSubscription, type StreamEvent, type SubscribeOptions } from "./client/subscribe.js";
export { type Config, ConfigError, loadConfig } from "./config.js";
export {
  type ErrorBody,
  ErrorCodes,
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
export { JetStreamEventStore } from "./store/jetstream.js";
export { MemoryEventStore } from "./store/memory.js";
export type { EventStore, EventsPage, ReadOptions, StoredEvent } from "./store/store.js";
export { actorType, Endpoints, escapeToken, Subjects, unescapeToken } from "./subjects.js";
