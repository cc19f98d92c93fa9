import type { NatsConnection } from "@nats-io/transport-node";
import { InternalError, UnavailableError } from "../../contract/errors.js";
import type { Subjects } from "../../contract/subjects.js";
import type { JetStreamObserver } from "../jetstream/observer.js";
import { StreamReader } from "../jetstream/reader.js";
import { Requester } from "../jetstream/requester.js";
import { streamLastSeq } from "../jetstream/stream-state.js";
import { type CacheFigures, LruCache } from "../store/cache.js";
import type { Head } from "../store/decide.js";
import { DEFAULT_MAX_PAYLOAD } from "../store/event-store.js";
import { ActorIndexes, type IndexView } from "./seq-index.js";
import { type LogMsg, logMsgs, StaleIndexError, type StoredMsg, storedMsgs } from "./stored-msg.js";
import { StreamIdentity } from "./stream-identity.js";
import { type LinkMsg, storedLinks, type TagHead } from "./tag-heads.js";
import { toStoreError } from "./translate.js";

export interface StreamsViewOptions {
  subjects: Subjects;
  /** Actors whose head the version cache keeps. */
  cacheSize: number;
  /** Timeout of each JetStream request. */
  timeoutMs: number;
  /** The events stream's replicas (default 1); above 1, reads that must be current ask the stream leader. */
  replicas?: number;
  /** Index entries (version -> sequence) kept over all actors; see ActorIndex. */
  indexSize?: number;
  /** The server answers batch direct gets (>= 2.11); older ones are read one message at a time. */
  batchDirectGet?: boolean;
  /** Told of every JetStream request (metrics, tracing). */
  observer?: JetStreamObserver;
}

/** The end of an actor's history as the server holds it now, with its last event's body. */
export interface FreshHead extends Head {
  json?: Uint8Array;
}

/** A head remembered by this view, with the generation of what it knew of the stream then. */
interface CachedHead extends Head {
  generation: number;
}

/** A tag's last link remembered by this view, under the same rules as an actor's head. */
interface CachedTagHead extends TagHead {
  generation: number;
}

// A read that finds the stream changing under it (messages deleted, stream recreated) starts over.
export const MAX_READ_ATTEMPTS = 3;

/**
 * What this service replica knows of the streams, and its ways to read them: the heads of actors
 * it met (the version cache) and where their events are (the index). All of it belongs to one
 * stream: when the stream is replaced, it is forgotten, and what a request in flight learned of
 * the old one is not put back (each request works under the generation it started with).
 */
export class StreamsView {
  readonly subjects: Subjects;
  readonly requester: Requester;
  readonly timeoutMs: number;
  readonly maxPayload: number;
  readonly events: StreamReader<StoredMsg, number>;
  readonly snapshots: StreamReader<StoredMsg, number>;
  /** The events stream's messages of every kind, as the read of the whole log (v3) meets them. */
  readonly log: StreamReader<LogMsg, undefined>;
  readonly links: StreamReader<LinkMsg, undefined>;
  readonly indexes: ActorIndexes;
  private readonly cache: LruCache<CachedHead>;
  // Tags whose last link this replica met (as many as actor heads): a write's next link needs it.
  private readonly tagCache: LruCache<CachedTagHead>;
  private readonly identity: StreamIdentity;
  // Counts the streams this replica has known; what was learned under an older one is not used.
  private current = 0;

  constructor(
    readonly nc: NatsConnection,
    options: StreamsViewOptions,
  ) {
    this.subjects = options.subjects;
    this.timeoutMs = options.timeoutMs;
    this.maxPayload = nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
    this.cache = new LruCache(options.cacheSize);
    this.tagCache = new LruCache(options.cacheSize);
    this.requester = new Requester(nc, options.timeoutMs, options.observer);
    const reads = {
      timeoutMs: options.timeoutMs,
      replicated: (options.replicas ?? 1) > 1,
      batchDirectGet: options.batchDirectGet ?? true,
      maxPayload: this.maxPayload,
    };
    this.events = new StreamReader(nc, this.requester, { ...reads, stream: this.subjects.stream }, storedMsgs);
    this.snapshots = new StreamReader(nc, this.requester, { ...reads, stream: this.subjects.snapshotsStream }, storedMsgs);
    this.log = new StreamReader(nc, this.requester, { ...reads, stream: this.subjects.stream }, logMsgs);
    this.links = new StreamReader(nc, this.requester, { ...reads, stream: this.subjects.stream }, storedLinks);
    this.indexes = new ActorIndexes(options.indexSize ?? 1_000_000);
    this.identity = new StreamIdentity(nc, this.requester, [this.subjects.stream, this.subjects.snapshotsStream], () => this.forgetAll());
  }

  cacheFigures(): { version: CacheFigures; index: CacheFigures } {
    return { version: this.cache.figures(), index: this.indexes.figures() };
  }

  /** The generation a request works under: pass it back with what the request learns. */
  get generation(): number {
    return this.current;
  }

  /**
   * Whether a write that learned what it knows under this generation may send it now: the streams
   * have not been replaced since as far as this replica has heard, and it has heard everything
   * but the last moment (no pause or stall since it last confirmed them). A clock reading.
   */
  trusts(generation: number): boolean {
    return this.identity.confirmed() && generation === this.current;
  }

  /**
   * Looks at the streams after a pause or stall, forgetting everything when they were replaced
   * (the generation moves on); fails with 503 when they do not answer.
   */
  async confirmStreams(): Promise<void> {
    if (!(await this.identity.confirm())) throw new UnavailableError("the streams did not answer whether they are still the same; retry");
  }

  /** Stops watching the streams; the connection stays the caller's. */
  close(): void {
    this.identity.stop();
  }

  /** The actor's head with every acknowledged write in it (one read), remembered in the cache. */
  async freshHead(actorId: string, generation: number): Promise<FreshHead> {
    let msg: StoredMsg | undefined;
    try {
      msg = await this.events.current(this.subjects.events(actorId));
    } catch (err) {
      throw this.seen(err);
    }
    const head: FreshHead = msg ? { version: msg.version, seq: msg.seq, json: msg.data } : { version: 0, seq: 0 };
    if (msg?.erasedAt !== undefined) head.erasedAt = msg.erasedAt;
    this.remember(actorId, head, generation);
    return head;
  }

  remember(actorId: string, head: Head, generation: number): void {
    if (generation !== this.current) return;
    const cached: CachedHead = { version: head.version, seq: head.seq, generation };
    if (head.erasedAt !== undefined) cached.erasedAt = head.erasedAt;
    this.cache.set(actorId, cached);
  }

  cachedHead(actorId: string): Head | undefined {
    const head = this.cache.get(actorId);
    return head?.generation === this.current ? head : undefined;
  }

  /** A write whose outcome is unknown: the next one reads the head again. */
  forgetHead(actorId: string): void {
    this.cache.delete(actorId);
  }

  /** The tag's last link with every acknowledged write in it (one read), remembered in the cache. */
  async freshTagHead(tag: string, generation: number): Promise<TagHead> {
    let msg: LinkMsg | undefined;
    try {
      msg = await this.links.current(this.subjects.tags(tag));
    } catch (err) {
      throw this.seen(err);
    }
    if (msg && !msg.link) throw new InternalError(`message ${msg.seq} on ${msg.subject} is not a tag link: not written by eventstore`);
    const head: TagHead = msg ? { seq: msg.seq, link: msg.link } : { seq: 0 };
    this.rememberTagHead(tag, head, generation);
    return head;
  }

  rememberTagHead(tag: string, head: TagHead, generation: number): void {
    if (generation === this.current) this.tagCache.set(tag, { seq: head.seq, link: head.link, generation });
  }

  cachedTagHead(tag: string): TagHead | undefined {
    const head = this.tagCache.get(tag);
    return head?.generation === this.current ? head : undefined;
  }

  /** A write whose outcome is unknown, or refused: the next one reads the tag's last link again. */
  forgetTagHead(tag: string): void {
    this.tagCache.delete(tag);
  }

  /**
   * Runs a read that relies on the actor's index; when the stream no longer holds what the index
   * says (messages deleted, purged or replaced), learns the actor anew and runs it again, up to
   * `attempts` times in all.
   */
  async withIndex<T>(actorId: string, read: () => Promise<T>, attempts = MAX_READ_ATTEMPTS): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await read();
      } catch (err) {
        if (!(err instanceof StaleIndexError) || attempt >= attempts) throw err;
        this.indexes.forget(actorId);
      }
    }
  }

  /**
   * Where the actor's events are, from version `from` up to its head: the index, extended by reading
   * the stream where it falls short (the messages read on the way are left in `seen`).
   */
  eventsIndex(actorId: string, head: Head, from: number, seen: Map<number, StoredMsg>, generation: number): Promise<IndexView> {
    return this.indexes.upTo(this.events, actorId, this.subjects.events(actorId), head, from, seen, generation);
  }

  /** The events stream's last sequence (any subject) as its leader holds it: the head of a read of the log. */
  lastSeq(): Promise<number> {
    return streamLastSeq(this.requester, this.subjects.stream);
  }

  /** A stream that does not answer may be gone, and come back as another one: look at it. */
  seen(err: unknown): unknown {
    if (toStoreError(err) instanceof UnavailableError) this.identity.suspect();
    return err;
  }

  /** Everything learned of the streams until now: they have been replaced. */
  private forgetAll(): void {
    this.current++;
    this.cache.clear();
    this.tagCache.clear();
    this.indexes.clear();
  }
}
