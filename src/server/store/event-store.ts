import type { ActorEvents } from "../../contract/events.js";
import type {
  AppendResponse,
  Condition,
  EraseResponse,
  Event,
  Query,
  SaveResponse,
  Snapshot,
  SnapshotGetResponse,
  SnapshotSaveResponse,
  TransactResponse,
  VersionResponse,
} from "../../contract/types.js";
import type { CacheFigures } from "./cache.js";

export type { ActorEvents, StoredEvent } from "../../contract/events.js";

export interface ReadOptions {
  /** Events with a version strictly greater than this (default 0). */
  fromVersion?: number;
  /** At most this many events (default: as many as fit in maxBytes). */
  limit?: number;
  /** The encoded events of one page must fit in this many bytes. */
  maxBytes: number;
}

/** A read of the whole log (contract v3, `eventstore.read`). */
export interface LogReadOptions {
  /** Only the events matching it; none: every event. */
  query?: Query;
  /** The first position to consider, inclusive (default: the first, or backwards the last). */
  from?: number;
  /** At most this many events (default: as many as fit in maxBytes). */
  limit?: number;
  backwards?: boolean;
  /** The whole reply (encodeLogPage) must fit in this many bytes. */
  maxBytes: number;
}

/** One page of the log: each event's stored JSON with its position, in the order read. */
export interface LogPage {
  entries: { position: number; json: Uint8Array }[];
  hasMore: boolean;
  /** The stream's last position when the read was evaluated (0 when empty). */
  head: number;
}

/** Counts of what the store decided for one kind of write, reported in $SRV.STATS. */
export interface StoreCounters {
  conflicts: number;
  duplicates: number;
  cacheHits: number;
  cacheMisses: number;
  retries: number;
}

/** One set of counters per write, so that STATS reports each endpoint's own. */
export interface WriteCounters {
  save: StoreCounters;
  append: StoreCounters;
  transact: StoreCounters;
  saveSnapshot: StoreCounters;
}

/**
 * What every backend guarantees: per-actor versions strictly increasing, idempotent saves by
 * event id, reads in version order. The conformance suite (test/store/conformance.ts) holds
 * every implementation to it.
 */
export interface EventStore {
  /** `json`: the event as the caller sent it, stored as it is (see encode.ts); else it is serialised. */
  save(event: Event, json?: Uint8Array): Promise<SaveResponse>;
  /** `condition` (v3): stored only if no event matching its query has a position after its `after`. */
  append(actorId: string, events: Event[], json?: Uint8Array[], condition?: Condition): Promise<AppendResponse>;
  /** The events of several actors, all stored or none (one atomic batch); `json` and `condition` as for append. */
  transact(appends: ActorEvents[], json?: Uint8Array[][], condition?: Condition): Promise<TransactResponse>;
  /** The whole log in position order, filtered by a query (v3); erased actors' events and tombstones are never in it. */
  read(options: LogReadOptions): Promise<LogPage>;
  /** The page as the wire reply, already encoded: reads are served without re-serialising events. */
  events(actorId: string, options: ReadOptions): Promise<EventsPage>;
  version(actorId: string): Promise<number>;
  /** The version and, for an erased actor, `erased: true` (the version it had reached). */
  versionInfo(actorId: string): Promise<VersionResponse>;
  /** Erases the actor for good: a tombstone first (the fence against racing writes), then its events and snapshots go. */
  erase(actorId: string, reason?: string): Promise<EraseResponse>;
  saveSnapshot(snapshot: Snapshot, json?: Uint8Array): Promise<SnapshotSaveResponse>;
  /** The snapshot with the highest version, as stored; undefined when the actor has none. */
  getSnapshot(actorId: string): Promise<StoredSnapshot | undefined>;
  readonly counters: WriteCounters;
  /** The version cache's and the read index's figures, for the metrics; a store without them has none. */
  cacheFigures?(): { version: CacheFigures; index: CacheFigures };
  /** Stops what the store runs in the background; the connection stays the caller's. */
  close(): void;
}

/** A snapshot with the JSON it was stored as: snapshot_get answers with those bytes. */
export interface StoredSnapshot {
  snapshot: SnapshotGetResponse;
  json: Uint8Array;
}

/** One page of events, as the encoded JSON of the events array's items. */
export interface EventsPage {
  actorId: string;
  /** Each event's JSON, in version order. */
  encoded: Uint8Array[];
  hasMore: boolean;
  /** The actor was erased: no events, and the reply says so. */
  erased?: boolean;
}

export function newCounters(): StoreCounters {
  return { conflicts: 0, duplicates: 0, cacheHits: 0, cacheMisses: 0, retries: 0 };
}

export function newWriteCounters(): WriteCounters {
  return { save: newCounters(), append: newCounters(), transact: newCounters(), saveSnapshot: newCounters() };
}

// Room for the headers of a stored message (version, message id, expectation, batch headers).
const MESSAGE_HEADERS_BYTES = 512;

/** nats-server's default max_payload: the bound of a connection that does not say (or of no connection). */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** What bounds a stored event: the connection's max_payload, and the service's request limit. */
export interface EventLimits {
  maxPayload: number;
  /** Unset: no request limit (a store used in-process). */
  maxRequestBytes?: number;
}

/**
 * The largest stored event of an actor that a page of its own can return, and JetStream can store;
 * and, as stored (timestamp added), no larger than a request, so that every stored event can be
 * exported and saved again as it is.
 */
export function maxStoredEventBytes(actorId: string, limits: EventLimits): number {
  return Math.min(limits.maxPayload - Math.max(pageOverhead(actorId), MESSAGE_HEADERS_BYTES), limits.maxRequestBytes ?? Infinity);
}

const encoder = new TextEncoder();
const OPEN = encoder.encode('{"actorId":');
const EVENTS = encoder.encode(',"events":[');
const COMMA = encoder.encode(",");
const CLOSE_MORE = encoder.encode('],"hasMore":true}');
const CLOSE_DONE = encoder.encode('],"hasMore":false}');
const CLOSE_ERASED = encoder.encode('],"hasMore":false,"erased":true}');

/** The bytes an events reply adds around its events, for an actor id. */
export function pageOverhead(actorId: string): number {
  // A byte count, not an encoding: this runs for every event written (issue 27's profile: 3% of a save).
  return OPEN.length + Buffer.byteLength(JSON.stringify(actorId), "utf8") + EVENTS.length + CLOSE_DONE.length;
}

/** Splices the stored events' JSON into an events reply without parsing them again. */
export function encodePage(page: EventsPage): Uint8Array {
  const actor = encoder.encode(JSON.stringify(page.actorId));
  const close = page.erased ? CLOSE_ERASED : page.hasMore ? CLOSE_MORE : CLOSE_DONE;
  let size = OPEN.length + actor.length + EVENTS.length + close.length + Math.max(0, page.encoded.length - 1);
  for (const e of page.encoded) size += e.length;
  const out = new Uint8Array(size);
  let at = 0;
  const put = (bytes: Uint8Array) => {
    out.set(bytes, at);
    at += bytes.length;
  };
  put(OPEN);
  put(actor);
  put(EVENTS);
  page.encoded.forEach((e, i) => {
    if (i > 0) put(COMMA);
    put(e);
  });
  put(close);
  return out;
}

const LOG_OPEN = encoder.encode('{"events":[');
const ENTRY_OPEN = encoder.encode('{"position":');
const ENTRY_EVENT = encoder.encode(',"event":');
const ENTRY_CLOSE = encoder.encode("}");

/** The bytes a read reply adds around one event's JSON at a position (its comma included). */
export function logEntryOverhead(position: number): number {
  return ENTRY_OPEN.length + String(position).length + ENTRY_EVENT.length + ENTRY_CLOSE.length + COMMA.length;
}

/** The bytes of a read reply without its events, for a head. */
export function logPageOverhead(head: number): number {
  return logClose(true, head).length + LOG_OPEN.length;
}

function logClose(hasMore: boolean, head: number): Uint8Array {
  return encoder.encode(`],"hasMore":${hasMore},"head":${head}}`);
}

/** Splices the stored events' JSON into a read reply without parsing them again. */
export function encodeLogPage(page: LogPage): Uint8Array {
  const close = logClose(page.hasMore, page.head);
  const parts: Uint8Array[] = [LOG_OPEN];
  page.entries.forEach(({ position, json }, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(ENTRY_OPEN, encoder.encode(String(position)), ENTRY_EVENT, json, ENTRY_CLOSE);
  });
  parts.push(close);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
