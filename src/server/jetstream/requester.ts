import {
  type ConnectionOptions,
  errors,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type QueuedIterator,
  type Status,
  type Subscription,
} from "@nats-io/transport-node";
import { randomToken } from "../nats/inbox.js";
import { RequestTimeoutError } from "./errors.js";
import { type JetStreamObserver, observed, operationOf } from "./observer.js";

interface Pending {
  subject: string;
  resolve: (msg: Msg) => void;
  reject: (err: Error) => void;
  deadline: number;
}

/**
 * Request-reply on the hot path with one wildcard reply subscription and one timer for all
 * requests. nats.js gives every request its own timer and deferred and builds an Error with a
 * stack trace for each one even after it succeeded; at tens of thousands of saves a second
 * that is a large share of the service's CPU.
 */
export class Requester {
  private readonly prefix: string;
  private readonly pending = new Map<number, Pending>();
  private readonly sub: Subscription;
  private readonly sweeper: NodeJS.Timeout;
  // nats.js hands out a queued iterator, whose stop() ends the loop below when the requester closes.
  private readonly statuses: AsyncIterable<Status> & Partial<Pick<QueuedIterator<Status>, "stop">>;
  private next = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
    /** Told of every request; also of the requests the store makes around the requester (batches, batch gets). */
    readonly observer?: JetStreamObserver,
  ) {
    // Under the connection's own prefix (NATS_INBOX_PREFIX), which the service's permissions cover,
    // and random: a reply subject anyone could guess lets a caller forge JetStream's answers (the
    // ids after it only count requests).
    const connectionPrefix = (nc as NatsConnection & { options?: ConnectionOptions }).options?.inboxPrefix || "_INBOX";
    this.prefix = `${connectionPrefix}.${randomToken()}.`;
    // An error here (a refused subscription) is reported on the connection's status; requests then time out.
    this.sub = nc.subscribe(`${this.prefix}*`, {
      callback: (err, msg) => {
        if (!err) this.settle(msg);
      },
    });
    this.sweeper = setInterval(() => this.expire(), Math.min(250, timeoutMs));
    this.sweeper.unref();
    void nc.closed().then(() => this.close());
    this.statuses = nc.status();
    void this.refuseDenied();
  }

  /**
   * A publish NATS refuses (the user lacks the permission) gets no reply: the server says so on
   * the connection, and the requests to that subject fail at once with its refusal, as nats.js's
   * own requests do, instead of waiting for the timeout.
   */
  private async refuseDenied(): Promise<void> {
    for await (const status of this.statuses) {
      const err = status.type === "error" ? status.error : undefined;
      if (!(err instanceof errors.PermissionViolationError) || err.operation !== "publish") continue;
      for (const [id, p] of this.pending) {
        if (p.subject !== err.subject) continue;
        this.pending.delete(id);
        p.reject(err);
      }
    }
  }

  /** The reply, whatever its status headers say: callers decode it. */
  request(subject: string, data: Uint8Array, headers?: MsgHdrs): Promise<Msg> {
    if (!this.observer) return this.unobserved(subject, data, headers);
    return observed(this.observer, operationOf(subject), subject, () => this.unobserved(subject, data, headers));
  }

  /** A request that is part of an operation the caller observes as a whole (an atomic batch's). */
  unobserved(subject: string, data: Uint8Array, headers?: MsgHdrs): Promise<Msg> {
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { subject, resolve, reject, deadline: Date.now() + this.timeoutMs });
      try {
        this.nc.publish(subject, data, { reply: this.prefix + id, headers });
      } catch (err) {
        this.pending.delete(id);
        reject(err as Error);
      }
    });
  }

  close(): void {
    clearInterval(this.sweeper);
    this.statuses.stop?.();
    this.sub.unsubscribe();
    for (const p of this.pending.values()) p.reject(new RequestTimeoutError("the connection closed before a reply"));
    this.pending.clear();
  }

  private settle(msg: Msg): void {
    const id = Number(msg.subject.slice(this.prefix.length));
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.resolve(msg);
  }

  private expire(): void {
    const now = Date.now();
    // Every request has the same timeout, so insertion order is deadline order.
    for (const [id, p] of this.pending) {
      if (p.deadline > now) break;
      this.pending.delete(id);
      p.reject(new RequestTimeoutError(`no reply within ${this.timeoutMs} ms`));
    }
  }
}
