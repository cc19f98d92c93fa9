import { resolve } from "node:path";
import { errors, type NatsConnection } from "@nats-io/transport-node";
import { startApp } from "./server/app.js";
import { type AuthConfig, type Config, ConfigError, loadConfig } from "./server/config.js";
import { createLogger, type Logger } from "./server/logger.js";
import { connectNats, explainNatsFailure } from "./server/nats/connect.js";
import { jetstreamInboxPrefix } from "./server/nats/inbox.js";
import { type LocalServer, startLocalServer } from "./server/nats/local-server.js";
import { tracingConfigured } from "./server/observability/environment.js";
import type { Telemetry } from "./server/observability/telemetry.js";

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
  let telemetry: Telemetry | undefined;
  const connections: NatsConnection[] = [];
  // The credentials of the connection being opened: a refusal names their variables.
  let auth = config.auth;
  try {
    let servers = config.natsUrl;
    if (!servers) {
      local = await startLocalServer(resolve("data"));
      servers = local.url;
      log.info({ url: servers, data: resolve("data") }, "started a local nats-server (NATS_URL is unset)");
    }
    // Each connection gets inboxes of its own that no caller can guess (src/nats/inbox.ts).
    const tuning = () => ({ timeoutMs: config.connectTimeoutMs, inboxPrefix: jetstreamInboxPrefix(config.inboxPrefix) });
    const retrying = (attempt: number, err: Error) =>
      log.warn({ attempt, err: err.message, timeoutMs: config.connectTimeoutMs }, "NATS not reachable yet: trying again");
    const serve = await connectNats(servers, config.auth, "eventstore", tuning(), retrying);
    connections.push(serve);
    watchConnection(serve, log, config.auth);
    let jetstream = serve;
    if (config.jetstreamAuth) {
      auth = config.jetstreamAuth;
      jetstream = await connectNats(servers, auth, "eventstore-jetstream", tuning(), retrying);
      connections.push(jetstream);
      watchConnection(jetstream, log, auth);
    }
    const mode = connections.length > 1 ? "requests and JetStream on separate connections" : "one connection for requests and JetStream";
    log.info({ connections: connections.length }, mode);
    // Without metrics or tracing configured, nothing of prom-client or OpenTelemetry is even loaded.
    if (config.metricsPort !== undefined || tracingConfigured(process.env)) {
      const { startTelemetry } = await import("./server/observability/telemetry.js");
      telemetry = await startTelemetry({ serve, jetstream }, config, process.env, log);
    }
    const { running, store } = await startApp({ serve, jetstream }, config, log, telemetry?.instruments);
    telemetry?.serving(store);
    if (local) {
      process.stderr.write(
        `\neventstore is ready on ${servers}. Try:\n` +
          `  nats req eventstore.save '{"id":"e1","eventType":"OrderPlaced","actorId":"order-1","version":1,"data":{"total":42}}'\n` +
          `  nats req eventstore.events '{"actorId":"order-1"}'\n\n`,
      );
    }
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "shutting down: draining requests");
      // A request in flight ends within its JetStream timeouts; a NATS that cannot be reached
      // would hold the drain forever, so the shutdown has a bound of its own.
      const bound = 2 * config.jetstreamTimeoutMs + 2000;
      setTimeout(() => {
        log.error({ boundMs: bound }, "shutdown did not finish in time: exiting without a full drain");
        process.exit(1);
      }, bound).unref();
      try {
        await running.stop();
        store.close();
        await telemetry?.close();
        for (const nc of connections) await nc.drain();
        await local?.stop();
        log.info("stopped");
        process.exit(0);
      } catch (err) {
        log.error({ err: (err as Error).message }, "shutdown could not drain the connection: exiting");
        await local?.stop();
        process.exit(1);
      }
    };
    process.on("SIGTERM", () => void shutdown("SIGTERM"));
    process.on("SIGINT", () => void shutdown("SIGINT"));
    for (const nc of connections) {
      void nc.closed().then((err) => {
        if (stopping) return;
        log.fatal({ err: err?.message }, "the NATS connection closed");
        void local?.stop().finally(() => process.exit(1));
      });
    }
    // The library closes the service itself when a subscription it needs ends: without it the
    // process would look alive and answer nothing, so it exits for its supervisor to restart it.
    void running.service.stopped.then((err) => {
      if (stopping) return;
      log.fatal({ err: err instanceof Error ? err.message : undefined }, "the micro service stopped by itself: exiting");
      void local?.stop().finally(() => process.exit(1));
    });
  } catch (err) {
    const reason = explainNatsFailure(err, auth);
    log.fatal({ err: (err as Error).message, ...(reason ? { reason } : {}) }, "eventstore could not start");
    for (const nc of connections) await nc.close().catch(() => undefined);
    await telemetry?.close();
    await local?.stop();
    process.exit(1);
  }
}

function watchConnection(nc: NatsConnection, log: Logger, auth: AuthConfig): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect") log.warn({ status: s.type, server: s.server }, "NATS connection");
      if (s.type !== "error") continue;
      // Without its subscriptions the service would look alive and answer nothing: stop instead.
      if (s.error instanceof errors.PermissionViolationError && s.error.operation === "subscription") {
        log.fatal({ err: s.error.message, reason: explainNatsFailure(s.error, auth) }, "eventstore cannot serve");
        process.exit(1);
      }
      log.error({ err: String(s.error) }, "NATS connection error");
    }
  })();
}

void main();
