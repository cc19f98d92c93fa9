import {
  type Consumer,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type NatsConnection, errors as natsErrors } from "@nats-io/transport-node";
import { ValidationError } from "../errors.js";
import type { StoredEvent } from "../store/store.js";
import { Headers, Subjects } from "../subjects.js";

export interface SubscribeOptions {
  /** Only this actor's events. */
  actorId?: string;
  /** Only events of actors of this type (the part of the actor id before its first "-"). */
  actorType?: string;
  /** Start at this stream sequence (default 1: every stored event, then the new ones). */
  fromSequence?: number;
  /** Skip what is stored and deliver only events stored from now on. */
  onlyNew?: boolean;
}

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
  | { sequence: number; event: StoredEvent; erased?: undefined }
  | { sequence: number; erased: Tombstone; event?: undefined };

/** A message of the events stream as what it holds: an event, or an erased actor's tombstone. */
export function decodeStreamMessage(msg: JsMsg): StreamEvent {
  return msg.headers?.has(Headers.erased)
    ? { sequence: msg.seq, erased: msg.json<Tombstone>() }
    : { sequence: msg.seq, event: msg.json<StoredEvent>() };
}

// A safety net for callers that die without stopping: the server drops an idle consumer after this.
const INACTIVE_THRESHOLD_MS = 60_000;

/**
 * Stored events read straight from the JetStream stream by an ordered consumer: first what is
 * stored (catch-up), then each new event as it is stored (live), in stream order. Iterate it;
 * breaking out of the loop or calling stop() deletes the consumer.
 */
export class EventSubscription implements AsyncIterable<StreamEvent> {
  private stopping?: Promise<void>;

  private constructor(
    private readonly consumer: Consumer,
    private readonly messages: ConsumerMessages,
    /** How many stored events come before the live ones: the catch-up, counted when the subscription opened. */
    readonly backlog: number,
  ) {}

  static async open(nc: NatsConnection, stream: string, options: SubscribeOptions = {}): Promise<EventSubscription> {
    checkOptions(options);
    // "Only new" is pinned to a sequence: an ordered consumer that resets before its first message
    // restarts from its last sequence seen, which for a deliver-new consumer would be the start.
    const start = options.onlyNew
      ? (await (await jetstreamManager(nc)).streams.info(stream)).state.last_seq + 1
      : (options.fromSequence ?? 1);
    const consumer = await jetstream(nc).consumers.get(stream, {
      filter_subjects: filterSubject(new Subjects(stream), options),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: start,
      inactive_threshold: INACTIVE_THRESHOLD_MS,
    });
    const { num_pending } = await consumer.info(true);
    return new EventSubscription(consumer, await consumer.consume(), num_pending);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    try {
      for await (const msg of this.messages) yield decodeStreamMessage(msg);
    } finally {
      await this.stop();
    }
  }

  /** Ends the iteration and deletes the consumer on the server. Safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  private async close(): Promise<void> {
    // stop(), not close(): close() waits for the iteration to drain, which never happens when
    // nobody iterates (a subscription stopped before its first event).
    this.messages.stop();
    try {
      await this.consumer.delete();
    } catch (err) {
      // Already gone (deleted, or expired by its inactivity threshold), or the connection is closed,
      // which makes the server drop the consumer after the threshold anyway.
      const gone = err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound;
      if (!gone && !(err instanceof natsErrors.ClosedConnectionError)) throw err;
    }
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

function filterSubject(subjects: Subjects, options: SubscribeOptions): string {
  if (options.actorId !== undefined) return subjects.events(options.actorId);
  if (options.actorType !== undefined) return subjects.eventsOfType(options.actorType);
  return subjects.eventsWildcard;
}
