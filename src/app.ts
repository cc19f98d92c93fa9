import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Config } from "./config.js";
import type { Logger } from "./logger.js";
import { type RunningService, startService } from "./service/service.js";
import { ATOMIC_BATCH_SERVER } from "./jetstream/batch.js";
import { JetStreamEventStore } from "./store/jetstream.js";
import { MemoryEventStore } from "./store/memory.js";
import type { EventStore } from "./store/store.js";
import { ensureStreams } from "./store/streams.js";
import { Subjects } from "./subjects.js";

export { ATOMIC_BATCH_SERVER };

export interface App {
  readonly store: EventStore;
  readonly running: RunningService;
}

/** Opens the configured store on a connection and serves it: everything but the process around it. */
export async function startApp(nc: NatsConnection, config: Config, log: Logger): Promise<App> {
  const subjects = new Subjects(config.stream);
  const store = await openStore(nc, config, subjects, log);
  const running = await startService({ nc, store, config, subjects, log });
  return { store, running };
}

async function openStore(nc: NatsConnection, config: Config, subjects: Subjects, log: Logger): Promise<EventStore> {
  if (config.backend === "memory") {
    log.warn("EVENTSTORE_BACKEND=memory: events live in this process only and are lost when it stops");
    return new MemoryEventStore({ snapshotsKeep: config.snapshotsKeep, maxPayload: nc.info?.max_payload });
  }
  const serverVersion = nc.info?.version ?? "0.0.0";
  const atomicBatch = versionAtLeast(serverVersion, ATOMIC_BATCH_SERVER);
  if (!atomicBatch) {
    log.warn({ serverVersion, required: ATOMIC_BATCH_SERVER }, "nats-server has no atomic batch publish: append answers 501");
  }
  const jsm = await jetstreamManager(nc, { timeout: config.jetstreamTimeoutMs });
  await ensureStreams(jsm, { subjects, replicas: config.replicas, snapshotsKeep: config.snapshotsKeep, atomicBatch }, log);
  return new JetStreamEventStore(nc, {
    subjects,
    cacheSize: config.cacheSize,
    timeoutMs: config.jetstreamTimeoutMs,
    atomicBatch,
    replicas: config.replicas,
    indexSize: config.indexSize,
    batchDirectGet: versionAtLeast(serverVersion, BATCH_DIRECT_GET_SERVER),
  });
}

/** The first nats-server that answers batch direct gets; older ones are read a message at a time. */
const BATCH_DIRECT_GET_SERVER = "2.11.0";

export function versionAtLeast(version: string, min: string): boolean {
  const a = version.split(/[.-]/).map(Number);
  const b = min.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) > b[i]!;
  }
  return true;
}
