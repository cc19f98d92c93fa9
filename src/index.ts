// The package's public API: everything a caller may import, and nothing else.
export { type Config, ConfigError, loadConfig } from "./config.js";
export {
  ErrorCodes,
  type ErrorBody,
  EventStoreError,
  type FieldError,
  InternalError,
  NotFoundError,
  NotSupportedError,
  UnavailableError,
  ValidationError,
  VersionConflictError,
} from "./errors.js";
export type * from "./schemas/types.js";
export { type EventStore, type EventsPage, type ReadOptions, type StoredEvent } from "./store/store.js";
export { JetStreamEventStore } from "./store/jetstream.js";
export { MemoryEventStore } from "./store/memory.js";
export { actorType, Endpoints, escapeToken, Subjects, unescapeToken } from "./subjects.js";
