// The package's server entry, `nats-eventstore/server`: what runs the service in a process of
// one's own (the app, its config, the stores). Callers of the service need only the main entry.
export { type App, type Connections, startApp } from "./server/app.js";
export { type Config, ConfigError, loadConfig } from "./server/config.js";
export { JetStreamEventStore } from "./server/jetstream-store/jetstream-event-store.js";
export {
  ensureStreams,
  eventsStreamConfig,
  type NamedStreamConfig,
  type StreamSettings,
  snapshotsStreamConfig,
} from "./server/jetstream-store/stream-config.js";
export type { Logger } from "./server/logger.js";
export type { Instruments } from "./server/observability/observers.js";
export type { EventStore, EventsPage, ReadOptions, StoredEvent } from "./server/store/event-store.js";
export { MemoryEventStore } from "./server/store/memory.js";
