import { type Consumer, type ConsumerMessages, DeliverPolicy, type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ValidationError } from "../contract/errors.js";
import type { StoredEvent } from "../contract/events.js";
import { type StreamRequest, StreamWatch, streamCreated } from "../contract/stream-watch.js";
import { Headers, Subjects } from "../contract/subjects.js";
import { StreamChangedError, toEventStoreError } from "./errors.js";

export interface SubscribeOptions {
  /** Only this actor's events. */
  actorId?: string;
  /** Only events of actors of this type (the part of the actor id before its first "-"). */
  actorType?: string;
  /** Start at this stream sequence (default 1: every stored event, then the new ones). */
  fromSequence?: number;
  /** Skip what is stored and deliver only events stored from now on. */
  onlyNew?: boolean;
  /**
   * A stream deleted and created again (or restored from a backup) is another stream, whose
   * sequences start over. By default the iteration then ends with StreamChangedError, as it does
   * within seconds of the stream going missing. With followNewStream it waits while the stream is
   * missing and reads the new one from its start (sequence 1), telling onStreamChange first.
   */
  followNewStream?: boolean;
  /** Told when the stream goes missing and when the subscription restarts on a new stream. */
  onStreamChange?: (change: StreamChange) => void;
}

/** What a subscription that follows new streams reports. */
export type StreamChange = { kind: "missing"; stream: string } | { kind: "restarted"; stream: string; created: string };

/** What an erase leaves on an actor's subject: no event data, the reason as it was given. */
export interface Tombstone {
  actorId: string;
  version: number;
  erasedAt: string;
  reason?: string;
}

/**
 * An event as it sits in the stream, with its stream sequence (a resume point for fromSequence);
 * or an erased actor's tombstone, so that a read model can drop the actor too.
 */
export type StreamEvent =
  | { sequence: number; event: StoredEvent /** The event's JSON exactly as stored. */; json: string; erased?: undefined }
  | { sequence: number; erased: Tombstone; event?: undefined; json?: undefined };

/** A message of the events stream as what it holds: an event (with its stored JSON), or an erased actor's tombstone. */
export function decodeStreamMessage(msg: Pick<JsMsg, "seq" | "headers" | "json" | "string">): StreamEvent {
  if (msg.headers?.has(Headers.erased)) return { sequence: msg.seq, erased: msg.json<Tombstone>() };
  const json = msg.string();
  return { sequence: msg.seq, event: JSON.parse(json) as StoredEvent, json };
}

// A safety net for callers that die without stopping: the server drops an idle consumer after this.
const INACTIVE_THRESHOLD_MS = 60_000;
// A pull lasts at most this long, and the server's heartbeats come every half of it, so a consumer
// lost with its server is noticed within seconds (nats.js's default of 30 s stalled for about 45 s).
const PULL_EXPIRES_MS = 10_000;
// How long to wait before looking again at a stream that is missing or not answering yet.
const RETRY_MS = 500;
// Timeout of one look at the stream.
const LOOK_TIMEOUT_MS = 5000;

/** One ordered consumer, from a stream sequence on; the subscription opens another when it must start over. */
interface Leg {
  consumer: Consumer;
  messages: ConsumerMessages;
}

/**
 * Stored events read straight from the JetStream stream by an ordered consumer: first what is
 * stored (catch-up), then each new event as it is stored (live), in stream order. Iterate it;
 * breaking out of the loop or calling stop() deletes the consumer.
 *
 * It reads one stream, known by its creation time (src/contract/stream-watch.ts), not only its name:
 * when the stream goes missing or is replaced, the iteration ends with StreamChangedError, or
 * (followNewStream) starts over on the new stream. After a reconnect it opens a new consumer at the
 * next sequence, since the old one may have been lost with its server.
 */
export class EventSubscription implements AsyncIterable<StreamEvent> {
  private stopping?: Promise<void>;
  private stopped = false;
  private leg?: Leg;
  private wake?: () => void;
  private readonly request: StreamRequest;
  private readonly watch: StreamWatch;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly stream: string,
    private readonly options: SubscribeOptions,
    /** The creation time of the stream being read: its identity. */
    private created: string,
    /** The stream sequence to read next. */
    private next: number,
  ) {
    this.request = (subject, data) => nc.request(subject, data, { timeout: LOOK_TIMEOUT_MS });
    this.watch = new StreamWatch(nc, this.request, [stream], {
      hint: (cause) => {
        if (cause === "reconnect") this.interrupt();
      },
      seen: (_, created) => {
        if (created !== this.created) this.interrupt();
      },
    });
  }

  private caughtUpAt = 0;

  /** How many stored events come before the live ones: the catch-up, counted when the subscription opened. */
  get backlog(): number {
    return this.caughtUpAt;
  }

  static async open(nc: NatsConnection, stream: string, options: SubscribeOptions = {}): Promise<EventSubscription> {
    checkOptions(options);
    const info = await (await jetstreamManager(nc)).streams.info(stream);
    // "Only new" is pinned to a sequence: an ordered consumer that resets before its first message
    // restarts from its last sequence seen, which for a deliver-new consumer would be the start.
    const start = options.onlyNew ? info.state.last_seq + 1 : (options.fromSequence ?? 1);
    const sub = new EventSubscription(nc, stream, options, info.created, start);
    try {
      sub.leg = await sub.openLeg();
      sub.caughtUpAt = (await sub.leg.consumer.info(true)).num_pending;
    } catch (err) {
      await sub.stop();
      throw err;
    }
    return sub;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    try {
      while (this.leg) {
        let failure: unknown;
        try {
          for await (const msg of this.leg.messages) {
            this.next = msg.seq + 1;
            yield decodeStreamMessage(msg);
          }
        } catch (err) {
          failure = err;
        }
        // The consumer ended: stop(), a closed connection, interrupt() or a failure of its own.
        if (this.stopped || this.nc.isClosed()) return;
        await this.resume(failure);
      }
    } finally {
      await this.stop();
    }
  }

  /** Ends the iteration and deletes the consumer on the server. Never fails, whatever became of the stream. */
  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  private async openLeg(): Promise<Leg> {
    const consumer = await jetstream(this.nc).consumers.get(this.stream, {
      filter_subjects: filterSubject(new Subjects(this.stream), this.options),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.next,
      inactive_threshold: INACTIVE_THRESHOLD_MS,
    });
    return { consumer, messages: await consumer.consume({ expires: PULL_EXPIRES_MS }) };
  }

  /** Ends the current consumer, so that the iteration looks at the stream again and opens another. */
  private interrupt(): void {
    const leg = this.leg;
    if (!leg || this.stopped) return;
    this.leg = undefined;
    // stop(), not close(): close() waits for the iteration to drain, which never happens when
    // nobody iterates (a subscription stopped before its first event).
    leg.messages.stop();
    void leg.consumer.delete().catch(() => undefined);
    this.wake?.();
  }

  /**
   * Opens the next consumer once the stream answers: at the next sequence of the same stream, or
   * at the start of a new one when following; ends with StreamChangedError otherwise. A consumer
   * that failed on a stream that is still the same one ends the iteration with that failure.
   */
  private async resume(failure: unknown): Promise<void> {
    let reportedMissing = false;
    while (!this.stopped && !this.nc.isClosed()) {
      const created = await streamCreated(this.request, this.stream);
      if (created === null) {
        if (!this.options.followNewStream) throw new StreamChangedError(this.stream, "missing");
        if (!reportedMissing) this.options.onStreamChange?.({ kind: "missing", stream: this.stream });
        reportedMissing = true;
      } else if (created !== undefined) {
        if (created === this.created && failure !== undefined) throw toEventStoreError(failure);
        if (created !== this.created) {
          if (!this.options.followNewStream) throw new StreamChangedError(this.stream, "replaced");
          this.created = created;
          this.next = 1;
          this.options.onStreamChange?.({ kind: "restarted", stream: this.stream, created });
        }
        try {
          this.leg = await this.openLeg();
          return;
        } catch {
          // JetStream is not ready yet (a server just back), or the stream changed again: look again.
        }
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, RETRY_MS);
      });
    }
  }

  private async close(): Promise<void> {
    this.stopped = true;
    this.watch.stop();
    this.wake?.();
    const leg = this.leg;
    this.leg = undefined;
    if (!leg) return;
    leg.messages.stop();
    // Already gone (deleted, expired, its stream deleted), or the connection is closed or the server
    // away: the server drops the consumer after its inactivity threshold anyway.
    await leg.consumer.delete().catch(() => undefined);
  }
}

function checkOptions(options: SubscribeOptions): void {
  if (options.actorId !== undefined && options.actorType !== undefined) {
    throw new ValidationError("subscribe: give actorId or actorType, not both");
  }
  if (options.onlyNew && options.fromSequence !== undefined) {
    throw new ValidationError("subscribe: give fromSequence or onlyNew, not both");
  }
  if (options.fromSequence !== undefined && !(Number.isSafeInteger(options.fromSequence) && options.fromSequence >= 1)) {
    throw new ValidationError(`subscribe: fromSequence must be an integer >= 1, got ${options.fromSequence}`);
  }
}

/** The subject filter of what a subscription with these options reads. */
export function filterSubject(subjects: Subjects, options: SubscribeOptions): string {
  if (options.actorId !== undefined) return subjects.events(options.actorId);
  if (options.actorType !== undefined) return subjects.eventsOfType(options.actorType);
  return subjects.eventsWildcard;
}
