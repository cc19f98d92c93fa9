import { type Service, type ServiceMsg, Svcm } from "@nats-io/services";
import type { NatsConnection } from "@nats-io/transport-node";
import { ENDPOINT_NAMES, ENDPOINTS, type EndpointName, SERVICE_NAME } from "../../contract/endpoints.js";
import { EventStoreError, InternalError } from "../../contract/errors.js";
import { Headers, type Subjects } from "../../contract/subjects.js";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { DEFAULT_MAX_PAYLOAD, type EventStore } from "../store/event-store.js";
import { createHandler, type Handler, type HandlerDeps, type RequestContext } from "./handlers.js";
import { OPERATIONS } from "./operations.js";
import { replyGuardedConnection } from "./reply-guard.js";
import { counterData, EndpointStats, reportStats } from "./stats.js";
import { bundleSchema, loadSchemas, RequestValidator } from "./validation.js";

// Room left in a message for what the service adds to a request (timestamp, headers) and for
// the envelope of an events reply, so that any event that is accepted can also be read back.
export const REQUEST_HEADROOM_BYTES = 4096;

const DESCRIPTION = "NATS-native event store: per-actor event streams in JetStream";

export interface ServiceDeps {
  nc: NatsConnection;
  store: EventStore;
  config: Config;
  subjects: Subjects;
  log: Logger;
  /** What describeService(nc, config, subjects) said, once for the process (the replicas agreed on it). */
  description: ServiceDescription;
  /** Told of every request (metrics, tracing); none: nothing is measured beyond STATS. */
  observer?: RequestObserver;
}

/** How a request was answered: 0 or an error code, and the reply when it succeeded. */
export interface Answer {
  readonly code: number;
  readonly reply?: unknown;
}

/** Wraps the handling of each request, which it must run once, and learns how it was answered. */
export interface RequestObserver {
  observe(endpoint: EndpointName, msg: ServiceMsg, handle: () => Promise<Answer>): Promise<unknown>;
}

export interface RunningService {
  readonly service: Service;
  readonly maxRequestBytes: number;
  /** Stops taking requests, answers those in flight, then resolves. */
  stop(): Promise<void>;
}

/** What a replica announces about itself, and how large a request it takes. */
export interface ServiceDescription {
  /** The connection's max_payload: no reply may be larger. */
  readonly maxPayload: number;
  readonly maxRequestBytes: number;
  /** $SRV metadata: where the stream is, and every setting replicas must agree on (AGREED_SETTINGS). */
  readonly metadata: Readonly<Record<string, string>>;
}

export function describeService(nc: NatsConnection, config: Config, subjects: Subjects): ServiceDescription {
  const maxPayload = nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  const maxRequestBytes = Math.min(maxPayload - REQUEST_HEADROOM_BYTES, config.maxRequestBytes ?? Infinity);
  const metadata = {
    stream: subjects.stream,
    events_subject: subjects.eventsWildcard,
    event_subject_layout: `${subjects.eventsPrefix}<actorType>.<actorToken>`,
    actor_token_escape: "bytes outside [A-Za-z0-9_-] become ~ and two lowercase hex digits",
    version_header: Headers.version,
    snapshots_stream: subjects.snapshotsStream,
    snapshots_subject: subjects.snapshotsWildcard,
    queue: config.queue,
    backend: config.backend,
    replicas: String(config.replicas),
    snapshots_keep: String(config.snapshotsKeep),
    max_request_bytes: String(maxRequestBytes),
    max_depth: String(config.maxDepth),
    max_read_events: String(config.maxReadEvents),
  };
  return { maxPayload, maxRequestBytes, metadata: Object.freeze(metadata) };
}

export async function startService({ nc, store, config, subjects, log, description, observer }: ServiceDeps): Promise<RunningService> {
  const { maxPayload, maxRequestBytes, metadata } = description;
  const validator = new RequestValidator({ maxDepth: config.maxDepth, maxRequestBytes });
  const handlerDeps: HandlerDeps = { store, validator, maxReplyBytes: maxPayload, maxReadEvents: config.maxReadEvents };
  const schemas = loadSchemas();

  // Requests reach the library, its $SRV handlers included, only through the reply guard.
  const service = await new Svcm(replyGuardedConnection(nc, subjects, config.inboxPrefix, log)).add({
    name: SERVICE_NAME,
    version: config.version,
    description: DESCRIPTION,
    queue: config.queue,
    metadata: { ...metadata },
  });

  const stats = new Map<string, EndpointStats>();
  const inflight = new Set<Promise<unknown>>();
  for (const name of ENDPOINT_NAMES) {
    const endpoint = ENDPOINTS[name];
    const handler = createHandler(name, handlerDeps);
    const endpointStats = new EndpointStats();
    stats.set(name, endpointStats);
    service.addEndpoint(name, {
      subject: endpoint.subject,
      metadata: {
        request_schema: JSON.stringify(bundleSchema(schemas, endpoint.requestSchema)),
        response_schema: JSON.stringify(bundleSchema(schemas, endpoint.responseSchema)),
      },
      handler: (err, msg) => {
        if (err) {
          log.error({ endpoint: name, err: err.message }, "endpoint subscription failed");
          return;
        }
        const handle = () => serve(name, handler, msg, endpointStats, log);
        const done = observer ? observer.observe(name, msg, handle) : handle();
        inflight.add(done);
        void done.finally(() => inflight.delete(done));
      },
    });
  }
  reportStats(service, stats, (name, s) => {
    const counters = OPERATIONS[name as EndpointName].counters;
    return { errors_by_code: s.errorsByCode, ...counterData(counters && store.counters[counters]) };
  });
  // "service started" promises that requests reach it: the server has registered every subscription.
  await nc.flush();
  log.info({ id: service.info().id, version: config.version, queue: config.queue, maxRequestBytes }, "service started");

  return {
    service,
    maxRequestBytes,
    async stop() {
      await service.stop();
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
  };
}

/** Runs one request to its reply. Never rejects: every failure becomes an error reply. */
async function serve(endpoint: EndpointName, handler: Handler, msg: ServiceMsg, stats: EndpointStats, log: Logger): Promise<Answer> {
  const start = process.hrtime.bigint();
  const ctx: RequestContext = {};
  try {
    const reply = await handler(msg.data, ctx);
    stats.record(start);
    // Buffer.from takes a small reply from node's pool; a TextEncoder allocates a typed array of its own.
    msg.respond(reply instanceof Uint8Array ? reply : Buffer.from(JSON.stringify(reply)));
    return { code: 0, reply };
  } catch (thrown) {
    // The store's errors come translated (the JetStream store's in one place); anything else is a bug.
    const err = thrown instanceof EventStoreError ? thrown : new InternalError(thrown instanceof Error ? thrown.message : String(thrown));
    const body = err.toBody();
    stats.record(start, body.error);
    const context = { endpoint, actorId: ctx.actorId, code: err.code };
    // Never the payload, at any level: err.loggable() leaves out what the request itself said.
    if (err.code >= 500 && err.code !== 501) {
      log[err.code === 503 ? "warn" : "error"]({ ...context, err: err.loggable() }, "request failed");
    } else {
      log.debug({ ...context, err: err.loggable() }, "request refused");
    }
    try {
      msg.respondError(err.code, headerSafe(body.error.message), JSON.stringify(body));
    } catch (replyErr) {
      log.warn({ ...context, err: (replyErr as Error).message }, "could not send the error reply");
    }
    return { code: err.code };
  }
}

/** Header values cannot carry CR, LF or other control characters. */
function headerSafe(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, " ").slice(0, 1024);
}
