import type { NatsConnection } from "@nats-io/transport-node";
import type { EndpointName, RequestOf, ResponseOf } from "../contract/endpoints.js";
import { InternalError, NotFoundError } from "../contract/errors.js";
import type { ActorEvents, StoredEvent } from "../contract/events.js";
import type {
  AppendRequest,
  AppendResponse,
  Condition,
  EraseResponse,
  Event,
  Query,
  SaveRequest,
  SaveResponse,
  SnapshotGetResponse,
  SnapshotSaveRequest,
  SnapshotSaveResponse,
  TransactRequest,
  TransactResponse,
} from "../contract/types.js";
import { discoverStream } from "./discovery.js";
import { type EventsEnd, type Loaded, loadActor, type Reducer } from "./load.js";
import { LogRead, type ReadOptions } from "./log-read.js";
import {
  listProjections,
  Projection,
  type ProjectionHandler,
  type ProjectionInfo,
  type ProjectionResetTo,
  type ProjectOptions,
  removeProjection,
  resetProjection,
} from "./projection.js";
import { requestWithRetry, sendWithRetry } from "./request.js";
import { type RetryOptions, retryOptions } from "./retry.js";
import { EventSubscription, type SubscribeOptions } from "./subscribe.js";

export interface EventStoreClientOptions {
  /**
   * How long one attempt waits for its reply. The default, 10 s, outlasts the service's own
   * JetStream timeout (5 s), so that a slow JetStream comes back as a 503 rather than as silence.
   */
  timeoutMs?: number;
  /** Retries of timeouts, no responders and 503s; see RetryOptions. */
  retry?: Partial<RetryOptions>;
  /** The events stream, for subscribe(); by default asked from the service's $SRV INFO metadata. */
  stream?: string;
}

export interface EventsOptions {
  /** Events with a version strictly greater than this (default 0: all). */
  fromVersion?: number;
  /** Events per request (1..10000); by default as many as fit in one reply. */
  pageSize?: number;
}

export interface WriteOptions {
  /**
   * Contract v3: store the write only if no event matching `failIfEventsMatch` has a position
   * above `after` (a read's `head`); else nothing is stored and ConditionFailedError is thrown.
   */
  condition?: Condition;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

/** The eventstore service's endpoints as typed methods, over a connection the caller owns. */
export class EventStoreClient {
  private readonly timeoutMs: number;
  private readonly retry: RetryOptions;
  private stream?: Promise<string>;

  constructor(
    private readonly nc: NatsConnection,
    options: EventStoreClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(this.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${this.timeoutMs}`);
    this.retry = retryOptions(options.retry);
    if (options.stream !== undefined) this.stream = Promise.resolve(options.stream);
  }

  /** Stores one event if its version is above the actor's latest; a repeat of a stored event is `duplicate: true`. */
  save(event: SaveRequest): Promise<SaveResponse> {
    return this.request("save", event);
  }

  /**
   * Stores one event given as its JSON, sent as it is: the store keeps these bytes (numbers and
   * white space as written, a timestamp added when there is none), so that an exported event
   * (StreamEvent.json) comes back byte for byte.
   */
  saveJson(json: Uint8Array): Promise<SaveResponse> {
    return sendWithRetry(this.nc, "save", json, this.timeoutMs, this.retry);
  }

  /** Stores all the events (one actor, consecutive versions) or none of them; `condition` as WriteOptions says. */
  append(actorId: string, events: Event[], options: WriteOptions = {}): Promise<AppendResponse> {
    // An empty list is the service's to refuse (400), as it refuses every request off its schema.
    return this.request("append", { actorId, events: events as AppendRequest["events"], ...condition(options) });
  }

  /** Stores the events of several actors all together or none of them (one atomic batch); `condition` as WriteOptions says. */
  transact(appends: ActorEvents[], options: WriteOptions = {}): Promise<TransactResponse> {
    return this.request("transact", { appends: appends as TransactRequest["appends"], ...condition(options) });
  }

  /**
   * Contract v3: the events of the whole log that match the query (none: every event), in
   * position order from `from`, across as many pages as it takes. Iterate it (each iteration
   * reads anew); its `head` is then the `after` for a condition decided on what it returned.
   */
  read(query?: Query, options: ReadOptions = {}): LogRead {
    return new LogRead((request) => this.request("read", request), query, options);
  }

  /**
   * Erases the actor for good (the right to erasure): its events and snapshots are deleted and it
   * takes no more writes. `reason` is kept as given in the tombstone: it must hold no personal data.
   */
  erase(actorId: string, options: { reason?: string } = {}): Promise<EraseResponse> {
    return this.request("erase", { actorId, ...(options.reason === undefined ? {} : { reason: options.reason }) });
  }

  /**
   * The actor's events with a version above fromVersion, in order, across as many pages as it
   * takes. The generator's return value says whether the actor was erased (then it has none).
   */
  async *events(actorId: string, options: EventsOptions = {}): AsyncGenerator<StoredEvent, EventsEnd> {
    let fromVersion = options.fromVersion ?? 0;
    for (;;) {
      const page = await this.request("events", {
        actorId,
        fromVersion,
        ...(options.pageSize !== undefined ? { limit: options.pageSize } : {}),
      });
      for (const event of page.events) yield event as StoredEvent;
      if (!page.hasMore) return { erased: page.erased === true };
      const last = page.events.at(-1);
      if (!last) throw new InternalError(`events of ${JSON.stringify(actorId)}: an empty page that says more follow`);
      fromVersion = last.version;
    }
  }

  /** The actor's latest version, 0 when it has no events. */
  async version(actorId: string): Promise<number> {
    return (await this.request("version", { actorId })).version;
  }

  saveSnapshot(snapshot: SnapshotSaveRequest): Promise<SnapshotSaveResponse> {
    return this.request("snapshot_save", snapshot);
  }

  /** The actor's latest snapshot, undefined when it has none. */
  async getSnapshot(actorId: string): Promise<SnapshotGetResponse | undefined> {
    try {
      return await this.request("snapshot_get", { actorId });
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** The actor's state: the latest snapshot, then every event after it, folded with reducer. */
  load<S>(actorId: string, reducer: Reducer<S>, initial: S): Promise<Loaded<S>> {
    return loadActor(this, actorId, reducer, initial);
  }

  /** Stored events straight from the stream, catch-up then live, until the loop ends or stop() is called. */
  async subscribe(options: SubscribeOptions = {}): Promise<EventSubscription> {
    return EventSubscription.open(this.nc, await this.streamName(), options);
  }

  /**
   * Runs the projection `name` in this process: a durable reader of the stream that resumes at its
   * checkpoint. In `ordered` mode one process of all that run it receives; the others stand by.
   */
  async project(name: string, handler: ProjectionHandler, options: ProjectOptions = {}): Promise<Projection> {
    return Projection.start(this.nc, await this.streamName(), name, handler, options);
  }

  /** Every projection on the stream with its checkpoint, lag, active process and failed or skipped sequences. */
  async projections(): Promise<ProjectionInfo[]> {
    return listProjections(this.nc, await this.streamName());
  }

  /** Moves a projection (running or not) to its start, a sequence or a time; returns the sequence it resumes at. */
  async resetProjection(name: string, to: ProjectionResetTo): Promise<number> {
    return resetProjection(this.nc, await this.streamName(), name, to);
  }

  /** Deletes a projection and its checkpoint; false when there was none. */
  async removeProjection(name: string): Promise<boolean> {
    return removeProjection(this.nc, await this.streamName(), name);
  }

  /** The events stream's name: given in the options or discovered once from the service. */
  streamName(): Promise<string> {
    if (!this.stream) {
      const discovery = discoverStream(this.nc, this.timeoutMs);
      // A failed discovery is not remembered: the service may be up at the next call.
      discovery.catch(() => (this.stream = undefined));
      this.stream = discovery;
    }
    return this.stream;
  }

  /** One request to an endpoint, typed by the endpoint table; the methods above are built on it. */
  request<E extends EndpointName>(endpoint: E, body: RequestOf<E>): Promise<ResponseOf<E>> {
    return requestWithRetry(this.nc, endpoint, body, this.timeoutMs, this.retry);
  }
}

function condition(options: WriteOptions): { condition?: Condition } {
  return options.condition === undefined ? {} : { condition: options.condition };
}
