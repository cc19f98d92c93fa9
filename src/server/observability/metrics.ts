import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { ENDPOINT_NAMES, type EndpointName } from "../../contract/endpoints.js";
import type { JetStreamOperation } from "../jetstream/observer.js";
import { OPERATIONS } from "../service/operations.js";
import type { Answer } from "../service/service.js";
import type { EventStore } from "../store/event-store.js";

// Every metric of the service, named after Prometheus' conventions: eventstore_ first, base units
// (seconds), _total on counters, labels with few values (an endpoint, a code, an operation, a
// projection's name: never an actor id). docs/operations.md says what each one means.

/** Requests take from well under a millisecond (a cached save) to the JetStream timeout. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const JETSTREAM_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A connection of the service as the metrics see it: whether it is up, and how often it came back. */
export interface ConnectionState {
  readonly name: string;
  connected: boolean;
  reconnects: number;
}

/** The lag of each projection (consumer `proj-<name>` on the events stream), by name. */
export type ProjectionLags = () => Promise<ReadonlyMap<string, number>>;

export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"endpoint" | "code">;
  private readonly duration: Histogram<"endpoint">;
  private readonly erasures: Counter;
  private readonly jetstreamDuration: Histogram<"operation">;
  private readonly jetstreamFailures: Counter<"operation">;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: "eventstore_requests_total",
      help: "Requests answered, by endpoint and outcome code (200: success, else the error code of the reply).",
      labelNames: ["endpoint", "code"],
      registers,
    });
    this.duration = new Histogram({
      name: "eventstore_request_duration_seconds",
      help: "Time from a request's arrival to its reply, by endpoint.",
      labelNames: ["endpoint"],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.erasures = new Counter({
      name: "eventstore_erasures_total",
      help: "Actors erased (erase requests answered with success).",
      registers,
    });
    this.jetstreamDuration = new Histogram({
      name: "eventstore_jetstream_request_duration_seconds",
      help: "Time of one JetStream request of the store, by operation.",
      labelNames: ["operation"],
      buckets: JETSTREAM_BUCKETS,
      registers,
    });
    this.jetstreamFailures = new Counter({
      name: "eventstore_jetstream_request_failures_total",
      help: "JetStream requests of the store that got no usable reply (timeout, no responders, connection lost), by operation.",
      labelNames: ["operation"],
      registers,
    });
    // Every endpoint appears from the first scrape, so that rates start at zero rather than at the first request.
    for (const endpoint of ENDPOINT_NAMES) this.duration.zero({ endpoint });
  }

  /** One request, answered. */
  request(endpoint: EndpointName, answer: Answer, seconds: number): void {
    this.requests.inc({ endpoint, code: answer.code === 0 ? "200" : String(answer.code) });
    this.duration.observe({ endpoint }, seconds);
    if (answer.code === 0 && endpoint === "erase") this.erasures.inc();
  }

  /** One JetStream request of the store, ended. */
  jetstreamRequest(operation: JetStreamOperation, seconds: number, failed: boolean): void {
    this.jetstreamDuration.observe({ operation }, seconds);
    if (failed) this.jetstreamFailures.inc({ operation });
  }

  /**
   * The store's own counters and caches, read at each scrape. Conflicts, duplicates and retries are
   * counted once, by the store where it decides them: these metrics and $SRV.STATS report the same counts.
   */
  watchStore(store: EventStore): void {
    const registers = [this.registry];
    const perWrite = (name: string, help: string, figure: "conflicts" | "duplicates" | "retries") =>
      new Counter({
        name,
        help: `${help}, by endpoint.`,
        labelNames: ["endpoint"],
        registers,
        collect() {
          this.reset();
          for (const endpoint of ENDPOINT_NAMES) {
            const kind = OPERATIONS[endpoint].counters;
            if (kind) this.inc({ endpoint }, store.counters[kind][figure]);
          }
        },
      });
    perWrite("eventstore_conflicts_total", "Writes refused with 409 because the actor was ahead of them", "conflicts");
    perWrite("eventstore_duplicates_total", "Writes answered as duplicates of what was already stored (a retry)", "duplicates");
    perWrite(
      "eventstore_write_retries_total",
      "Writes sent again after JetStream refused them for a head that had moved (another writer)",
      "retries",
    );
    const figures = () => store.cacheFigures?.();
    const perCache = (
      name: string,
      help: string,
      type: typeof Counter | typeof Gauge,
      figure: "entries" | "capacity" | "hits" | "misses" | "evictions",
    ) =>
      new type({
        name,
        help: `${help} (cache: version, the actors' heads; index, the read index's version -> sequence entries).`,
        labelNames: ["cache"],
        registers,
        collect() {
          const f = figures();
          if (!f) return;
          this.reset();
          this.inc({ cache: "version" }, f.version[figure]);
          this.inc({ cache: "index" }, f.index[figure]);
        },
      });
    perCache("eventstore_cache_entries", "What a cache holds, in the unit of its bound", Gauge, "entries");
    perCache("eventstore_cache_capacity", "A cache's bound (EVENTSTORE_CACHE_SIZE, EVENTSTORE_INDEX_SIZE)", Gauge, "capacity");
    perCache("eventstore_cache_hits_total", "Look-ups that found the actor", Counter, "hits");
    perCache("eventstore_cache_misses_total", "Look-ups that did not find the actor", Counter, "misses");
    perCache("eventstore_cache_evictions_total", "Entries dropped to stay within the bound", Counter, "evictions");
  }

  /** The service's NATS connections, read at each scrape. */
  watchConnections(connections: readonly ConnectionState[]): void {
    const registers = [this.registry];
    new Gauge({
      name: "eventstore_nats_connected",
      help: "1 while the connection to NATS is up, 0 while it is lost (connection: serve takes requests, jetstream uses JetStream).",
      labelNames: ["connection"],
      registers,
      collect() {
        for (const c of connections) this.set({ connection: c.name }, c.connected ? 1 : 0);
      },
    });
    new Counter({
      name: "eventstore_nats_reconnects_total",
      help: "Times the connection to NATS came back after it was lost.",
      labelNames: ["connection"],
      registers,
      collect() {
        this.reset();
        for (const c of connections) this.inc({ connection: c.name }, c.reconnects);
      },
    });
  }

  /** Each projection's lag, read at each scrape (bounded and cached by `lags`). */
  watchProjections(lags: ProjectionLags): void {
    new Gauge({
      name: "eventstore_projection_lag",
      help: "Events stored but not yet acknowledged by a projection (the consumer proj-<projection> of the events stream).",
      labelNames: ["projection"],
      registers: [this.registry],
      async collect() {
        const current = await lags();
        this.reset();
        for (const [projection, lag] of current) this.set({ projection }, lag);
      },
    });
  }
}
