import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Subjects } from "../../contract/subjects.js";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import type { EventStore } from "../store/event-store.js";
import { followConnection } from "./connections.js";
import { type MetricsServer, startMetricsServer } from "./http.js";
import type { ConnectionState } from "./metrics.js";
import { ServiceMetrics } from "./metrics.js";
import { type Instruments, instruments } from "./observers.js";
import { ProjectionLagReader } from "./projection-lag.js";
import { startTracing } from "./tracing.js";

// A readiness probe or a scrape waits at most this long for JetStream, well inside a probe's timeout.
const PROBE_TIMEOUT_MS = 2000;

export interface Telemetry {
  readonly instruments: Instruments;
  /** The app is up: its store's figures join the metrics, and readiness depends on the streams from now on. */
  serving(store: EventStore): void;
  /** Closes the listener and exports the last spans. */
  close(): Promise<void>;
}

/**
 * What the environment asks for: the OpenTelemetry SDK (OTEL_ variables) and the metrics listener
 * (EVENTSTORE_METRICS_PORT), which starts before the app so that /healthz answers while the app
 * opens its streams (and /readyz says it is not ready yet). main.ts loads this module only when
 * one of them is configured.
 */
export async function startTelemetry(
  connections: { serve: NatsConnection; jetstream: NatsConnection },
  config: Config,
  env: NodeJS.ProcessEnv,
  log: Logger,
): Promise<Telemetry> {
  const tracing = await startTracing(env, "eventstore");
  if (tracing) log.info("tracing: the OpenTelemetry SDK exports spans as the OTEL_ environment says");
  const listener = config.metricsPort === undefined ? undefined : await startListener(connections, config, config.metricsPort, log);
  return {
    instruments: instruments({ metrics: listener?.metrics, tracing: tracing !== undefined, queue: config.queue }),
    serving: (store) => listener?.serving(store),
    async close() {
      await listener?.server.close();
      await tracing?.shutdown();
    },
  };
}

interface Listener {
  readonly metrics: ServiceMetrics;
  readonly server: MetricsServer;
  serving(store: EventStore): void;
}

async function startListener(
  connections: { serve: NatsConnection; jetstream: NatsConnection },
  config: Config,
  port: number,
  log: Logger,
): Promise<Listener> {
  const subjects = new Subjects(config.stream);
  const states: ConnectionState[] = [followConnection(connections.serve, "serve")];
  if (connections.jetstream !== connections.serve) states.push(followConnection(connections.jetstream, "jetstream"));
  const jsm = await jetstreamManager(connections.jetstream, { timeout: Math.min(PROBE_TIMEOUT_MS, config.jetstreamTimeoutMs) });
  const metrics = new ServiceMetrics();
  metrics.watchConnections(states);
  // The memory backend has no streams: nothing to ask JetStream about.
  const jetstreamBackend = config.backend === "jetstream";
  if (jetstreamBackend) {
    const projections = new ProjectionLagReader(jsm, subjects.stream, log);
    metrics.watchProjections(() => projections.lags());
  }
  let started = false;
  const streams = jetstreamBackend ? [subjects.stream, subjects.snapshotsStream] : [];
  const ready = async () => {
    const down = states.find((s) => !s.connected);
    if (down) return `the ${down.name} connection to NATS is down`;
    if (!started) return "starting";
    return streamsAnswer(jsm, streams);
  };
  const server = await startMetricsServer(port, config.metricsHost, metrics, coalesced(ready), log);
  return {
    metrics,
    server,
    serving(store) {
      metrics.watchStore(store);
      started = true;
    },
  };
}

/** Why the streams do not answer, or undefined when each one does. */
async function streamsAnswer(jsm: JetStreamManager, streams: string[]): Promise<string | undefined> {
  for (const stream of streams) {
    try {
      await jsm.streams.info(stream);
    } catch (err) {
      return `stream ${stream}: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/** Probes that arrive while one is under way share its answer. */
function coalesced<T>(check: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= check().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}
