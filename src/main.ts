import { resolve } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { createLogger, type Logger } from "./logger.js";
import { connectNats } from "./nats/connect.js";
import { type LocalServer, startLocalServer } from "./nats/local-server.js";
import { startService } from "./service/service.js";
import { JetStreamEventStore } from "./store/jetstream.js";
import { MemoryEventStore } from "./store/memory.js";
import type { EventStore } from "./store/store.js";
import { ensureStreams } from "./store/streams.js";
import { Subjects } from "./subjects.js";

const ATOMIC_BATCH_SERVER = "2.12.0";

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`eventstore: configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let local: LocalServer | undefined;
  let nc: NatsConnection | undefined;
  try {
    let servers = config.natsUrl;
    if (!servers) {
      local = await startLocalServer(resolve("data"));
      servers = local.url;
      log.info({ url: servers, data: resolve("data") }, "started a local nats-server (NATS_URL is unset)");
    }
    nc = await connectNats(servers, config.auth);
    watchConnection(nc, log);
    const subjects = new Subjects(config.stream);
    const store = await openStore(nc, config, subjects, log);
    const running = await startService({ nc, store, config, subjects, log });
    if (local) {
      process.stderr.write(
        `\neventstore is ready on ${servers}. Try:\n` +
          `  nats req eventstore.save '{"id":"e1","eventType":"OrderPlaced","actorId":"order-1","version":1,"data":{"total":42}}'\n` +
          `  nats req eventstore.events '{"actorId":"order-1"}'\n\n`,
      );
    }
    const connection = nc;
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "shutting down: draining requests");
      await running.stop();
      await connection.drain();
      await local?.stop();
      log.info("stopped");
      process.exit(0);
    };
    process.on("SIGTERM", () => void shutdown("SIGTERM"));
    process.on("SIGINT", () => void shutdown("SIGINT"));
    void connection.closed().then((err) => {
      if (stopping) return;
      log.fatal({ err: err?.message }, "the NATS connection closed");
      void local?.stop().finally(() => process.exit(1));
    });
  } catch (err) {
    log.fatal({ err: (err as Error).message }, "eventstore could not start");
    await nc?.close().catch(() => undefined);
    await local?.stop();
    process.exit(1);
  }
}

async function openStore(nc: NatsConnection, config: Config, subjects: Subjects, log: Logger): Promise<EventStore> {
  if (config.backend === "memory") {
    log.warn("EVENTSTORE_BACKEND=memory: events live in this process only and are lost when it stops");
    return new MemoryEventStore(config.snapshotsKeep);
  }
  const serverVersion = nc.info?.version ?? "0.0.0";
  const atomicBatch = atLeast(serverVersion, ATOMIC_BATCH_SERVER);
  if (!atomicBatch) {
    log.warn({ serverVersion, required: ATOMIC_BATCH_SERVER }, "nats-server has no atomic batch publish: append answers 501");
  }
  const jsm = await jetstreamManager(nc, { timeout: config.jetstreamTimeoutMs });
  await ensureStreams(jsm, { subjects, replicas: config.replicas, snapshotsKeep: config.snapshotsKeep, atomicBatch }, log);
  return new JetStreamEventStore(nc, { subjects, cacheSize: config.cacheSize, timeoutMs: config.jetstreamTimeoutMs });
}

function atLeast(version: string, min: string): boolean {
  const a = version.split(/[.-]/).map(Number);
  const b = min.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) > b[i]!;
  }
  return true;
}

function watchConnection(nc: NatsConnection, log: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect") log.warn({ status: s.type, server: s.server }, "NATS connection");
      if (s.type === "error") log.error({ err: String(s.error) }, "NATS connection error");
    }
  })();
}

void main();
