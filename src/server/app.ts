import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Subjects } from "../contract/subjects.js";
import type { Config } from "./config.js";
import { ATOMIC_BATCH_SERVER } from "./jetstream/batch.js";
import { JetStreamEventStore } from "./jetstream-store/jetstream-event-store.js";
import { ensureStreams } from "./jetstream-store/stream-config.js";
import type { Logger } from "./logger.js";
import type { Instruments } from "./observability/observers.js";
import { ensureReplicasAgree } from "./service/agreement.js";
import { describeService, REQUEST_HEADROOM_BYTES, type RunningService, startService } from "./service/service.js";
import type { EventStore } from "./store/event-store.js";
import { MemoryEventStore } from "./store/memory.js";

export interface App {
  readonly store: EventStore;
  readonly running: RunningService;
}

/**
 * The service's connections: `serve` receives requests and answers them, `jetstream` talks to
 * JetStream (and asks the other replicas for their settings). The same connection when only one
 * set of credentials is configured.
 */
export interface Connections {
  readonly serve: NatsConnection;
  readonly jetstream: NatsConnection;
}

/**
 * Opens the configured store and serves it: everything but the process around it. With
 * instruments, requests and JetStream calls are measured and traced (src/observability/).
 */
export async function startApp({ serve, jetstream }: Connections, config: Config, log: Logger, instruments?: Instruments): Promise<App> {
  const subjects = new Subjects(config.stream);
  const described = describeService(serve, config, subjects);
  // Before this replica changes a stream or takes a request: a replica that disagrees must not do either.
  await ensureReplicasAgree(jetstream, described.metadata, config.inboxPrefix, config.jetstreamTimeoutMs, log);
  const maxMessageBytes = Math.min(described.maxPayload, described.maxRequestBytes + REQUEST_HEADROOM_BYTES);
  const store = await openStore(jetstream, config, subjects, log, maxMessageBytes, described.maxRequestBytes, instruments);
  const running = await startService({ nc: serve, store, config, subjects, log, description: described, observer: instruments?.requests });
  return { store, running };
}

async function openStore(
  nc: NatsConnection,
  config: Config,
  subjects: Subjects,
  log: Logger,
  maxMessageBytes: number,
  maxRequestBytes: number,
  instruments: Instruments | undefined,
): Promise<EventStore> {
  if (config.backend === "memory") {
    log.warn("EVENTSTORE_BACKEND=memory: events live in this process only and are lost when it stops");
    return new MemoryEventStore({ snapshotsKeep: config.snapshotsKeep, maxPayload: nc.info?.max_payload, maxRequestBytes });
  }
  const serverVersion = nc.info?.version ?? "0.0.0";
  const atomicBatch = versionAtLeast(serverVersion, ATOMIC_BATCH_SERVER);
  if (!atomicBatch) {
    log.warn({ serverVersion, required: ATOMIC_BATCH_SERVER }, "nats-server has no atomic batch publish: append answers 501");
  }
  const jsm = await jetstreamManager(nc, { timeout: config.jetstreamTimeoutMs });
  await ensureStreams(
    jsm,
    {
      subjects,
      replicas: config.replicas,
      snapshotsKeep: config.snapshotsKeep,
      atomicBatch,
      maxMessageBytes,
      reconfigure: config.reconfigure,
    },
    log,
  );
  return new JetStreamEventStore(nc, {
    subjects,
    cacheSize: config.cacheSize,
    timeoutMs: config.jetstreamTimeoutMs,
    atomicBatch,
    replicas: config.replicas,
    indexSize: config.indexSize,
    batchDirectGet: versionAtLeast(serverVersion, BATCH_DIRECT_GET_SERVER),
    maxRequestBytes,
    observer: instruments?.jetstream,
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
