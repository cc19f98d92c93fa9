import type { NatsConnection } from "@nats-io/transport-node";
import { NotSupportedError } from "../../contract/errors.js";
import type {
  AppendResponse,
  Condition,
  EraseResponse,
  Event,
  SaveResponse,
  Snapshot,
  SnapshotSaveResponse,
  TransactResponse,
  VersionResponse,
} from "../../contract/types.js";
import { ATOMIC_BATCH_SERVER } from "../jetstream/batch.js";
import {
  type ActorEvents,
  type EventLimits,
  type EventStore,
  type EventsPage,
  type LogPage,
  type LogReadOptions,
  newWriteCounters,
  type ReadOptions,
  type StoredSnapshot,
} from "../store/event-store.js";
import * as write from "../store/write.js";
import { erase } from "./erase.js";
import { readLog } from "./log-read.js";
import { readPage } from "./read-page.js";
import { getSnapshot, saveSnapshot } from "./snapshots.js";
import { jetStreamWrite } from "./stream-write.js";
import { StreamsView, type StreamsViewOptions } from "./streams-view.js";
import { translated } from "./translate.js";

export interface JetStreamStoreOptions extends StreamsViewOptions {
  /** The server has atomic batch publish (>= 2.12) and the stream allows it: append needs both. */
  atomicBatch: boolean;
  /** The service's request limit: no stored event may be larger (default: none). */
  maxRequestBytes?: number;
}

/**
 * Events in a JetStream stream, one message per event on the actor's subject. Per-actor order holds
 * across processes through Nats-Expected-Last-Subject-Sequence; the cache only saves the read that
 * would find that sequence, and a stale entry costs one rejected publish, never a wrong answer.
 * Each operation has its file beside this one; what they share is the StreamsView. Every operation's
 * failure is translated into the store's errors on its way out (translate.ts), once.
 */
export class JetStreamEventStore implements EventStore {
  readonly counters = newWriteCounters();
  private readonly view: StreamsView;
  private readonly write: write.Write;
  private readonly atomicBatch: boolean;
  private readonly limits: EventLimits;

  constructor(
    private readonly nc: NatsConnection,
    options: JetStreamStoreOptions,
  ) {
    this.atomicBatch = options.atomicBatch;
    this.view = new StreamsView(nc, options);
    this.write = jetStreamWrite(this.view);
    this.limits = { maxPayload: this.view.maxPayload, maxRequestBytes: options.maxRequestBytes };
  }

  cacheFigures() {
    return this.view.cacheFigures();
  }

  /** Stops watching the streams; the connection stays the caller's. */
  close(): void {
    this.view.close();
  }

  async save(event: Event, json?: Uint8Array): Promise<SaveResponse> {
    // A tagged event goes with its tag links in one atomic batch.
    if (event.tags?.length) this.requireAtomicBatch();
    return translated(write.save(this.write, this.limits, this.counters.save, event, json));
  }

  async append(actorId: string, events: Event[], json?: Uint8Array[], condition?: Condition): Promise<AppendResponse> {
    this.requireAtomicBatch();
    return translated(write.append(this.write, this.limits, this.counters.append, actorId, events, json, condition));
  }

  async transact(appends: ActorEvents[], json?: Uint8Array[][], condition?: Condition): Promise<TransactResponse> {
    this.requireAtomicBatch();
    return translated(write.transact(this.write, this.limits, this.counters.transact, appends, json, condition));
  }

  events(actorId: string, options: ReadOptions): Promise<EventsPage> {
    return translated(readPage(this.view, actorId, options));
  }

  read(options: LogReadOptions): Promise<LogPage> {
    return translated(readLog(this.view, options));
  }

  async version(actorId: string): Promise<number> {
    return (await translated(this.view.freshHead(actorId, this.view.generation))).version;
  }

  async versionInfo(actorId: string): Promise<VersionResponse> {
    const head = await translated(this.view.freshHead(actorId, this.view.generation));
    return head.erasedAt === undefined ? { actorId, version: head.version } : { actorId, version: head.version, erased: true };
  }

  erase(actorId: string, reason?: string): Promise<EraseResponse> {
    return translated(erase(this.view, actorId, reason));
  }

  saveSnapshot(snapshot: Snapshot, json?: Uint8Array): Promise<SnapshotSaveResponse> {
    return translated(saveSnapshot(this.view, this.counters.saveSnapshot, snapshot, json));
  }

  getSnapshot(actorId: string): Promise<StoredSnapshot | undefined> {
    return translated(getSnapshot(this.view, actorId));
  }

  private requireAtomicBatch(): void {
    if (this.atomicBatch) return;
    throw new NotSupportedError(
      `append, transact and saves of tagged events need nats-server ${ATOMIC_BATCH_SERVER} or newer (atomic batch publish); ` +
        `this one is ${this.nc.info?.version ?? "unknown"}`,
      ATOMIC_BATCH_SERVER,
    );
  }
}
