// The package's server entry, `nats-eventstore/server`: what runs the service in a process of
// one's own (the app, its config, the stores). Callers of the service need only the main entry.
export { type App, type Connections, startApp } from "./app.js";
export { type Config, ConfigError, loadConfig } from "./config.js";
export type { Logger } from "./logger.js";
export type { Instruments } from "./observability/observers.js";
export { JetStreamEventStore } from "./store/jetstream/store.js";
export { MemoryEventStore } from "./store/memory.js";
export type { EventStore, EventsPage, ReadOptions, StoredEvent } from "./store/store.js";
