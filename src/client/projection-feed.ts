import { createInbox, type Msg, type MsgHdrs, type NatsConnection, nanos, type Subscription } from "@nats-io/transport-node";

/** One message a projection's consumer delivered, with what its ack subject says about it. */
export class Delivery {
  constructor(
    private readonly msg: Msg,
    readonly stream: string,
    readonly consumer: string,
    readonly seq: number,
    /** The consumer's delivery sequence: it starts again at 1 after a reset. */
    readonly delivery: number,
  ) {}

  get subject(): string {
    return this.msg.subject;
  }

  get headers(): MsgHdrs | undefined {
    return this.msg.headers;
  }

  json<T>(): T {
    return this.msg.json<T>();
  }

  string(): string {
    return this.msg.string();
  }

  ack(): void {
    this.msg.respond("+ACK");
  }

  /** "In progress": the ack wait starts again (while a handler is retried). */
  working(): void {
    this.msg.respond("+WPI");
  }

  /** An acknowledgement the server confirms: once it has, every earlier one is processed too. */
  async ackAck(nc: NatsConnection, timeoutMs: number): Promise<void> {
    await nc.request(this.msg.reply!, "+ACK", { timeout: timeoutMs });
  }
}

/**
 * The stream, consumer and sequences in an ack subject: `$JS.ACK.<stream>.<consumer>.<delivered>.
 * <sseq>.<dseq>.<ts>.<pending>`, or with the domain and account hash after `$JS.ACK` (and a random
 * token at the end). Undefined for anything else.
 */
export function parseAckSubject(reply: string): { stream: string; consumer: string; seq: number; delivery: number } | undefined {
  const t = reply.split(".");
  if (t[0] !== "$JS" || t[1] !== "ACK") return undefined;
  const at = t.length === 9 ? 2 : t.length >= 11 ? 4 : -1;
  if (at < 0) return undefined;
  const seq = Number(t[at + 3]);
  const delivery = Number(t[at + 4]);
  if (!(Number.isSafeInteger(seq) && seq > 0 && Number.isSafeInteger(delivery) && delivery > 0)) return undefined;
  return { stream: t[at]!, consumer: t[at + 1]!, seq, delivery };
}

export interface FeedOptions {
  stream: string;
  consumer: string;
  /** The consumer's max_ack_pending: the most it delivers to processes that have not acknowledged. */
  maxAckPending: number;
  /** How long a pull waits at the server; a new one is sent every half of it. */
  expiresMs: number;
  /** ordered: the priority group every pull names. */
  group?: string;
}

export interface FeedHooks {
  /** A delivery arrived; false drops it. Runs as it arrives, before anything buffered behind it is handled. */
  delivered(d: Delivery): boolean;
  /** A status answer of the server to a pull (423: not pinned; 409: deleted, ...), of the current era or an older one. */
  status(code: number, description: string, current: boolean): void;
}

/**
 * A projection's own pull loop over its consumer (rather than nats.js consume()): a pull goes out
 * every half of `expiresMs` whatever the handler does, so an ordered projection's pin is renewed
 * however long a handler takes. Pulls ask for one message more than the consumer may have
 * unacknowledged (max_ack_pending), so one always waits at the server: a reset or a removal reaches
 * the process as soon as it happens. What arrives is buffered for `next()`.
 *
 * Pulls carry an era in their reply subject: the status answers to pulls sent before the latest
 * `newEra()` (for a pin this process no longer holds) are ignored. (Deliveries keep their stream
 * subject: they are judged by their pin and delivery sequence instead.)
 */
export class Feed {
  pinId?: string;
  private era = 0;
  private requested = 0;
  private buffer: Delivery[] = [];
  private wake?: () => void;
  private closed = false;
  private readonly base: string;
  private readonly sub: Subscription;
  private readonly timer: NodeJS.Timeout;
  private readonly next_: string;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: FeedOptions,
    private readonly hooks: FeedHooks,
    /** Runs on every tick of the pull timer, first. */
    private readonly onTick: () => void,
  ) {
    this.base = createInbox((nc as NatsConnection & { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.next_ = `$JS.API.CONSUMER.MSG.NEXT.${options.stream}.${options.consumer}`;
    this.sub = nc.subscribe(`${this.base}.*`, { callback: (err, msg) => (err ? this.close() : this.receive(msg)) });
    this.timer = setInterval(() => {
      this.onTick();
      this.pull();
    }, options.expiresMs / 2);
    this.pull();
  }

  get buffered(): number {
    return this.buffer.length;
  }

  /** The next buffered delivery, waiting for one; undefined once closed. */
  async next(): Promise<Delivery | undefined> {
    while (this.buffer.length === 0 && !this.closed) await new Promise<void>((resolve) => (this.wake = resolve));
    if (this.closed) return undefined;
    const d = this.buffer.shift()!;
    if (this.buffer.length + this.requested <= this.options.maxAckPending / 2) this.pull();
    return d;
  }

  /** Drops everything buffered (it was fetched for a pin, or before a reset, that no longer holds). */
  drop(): void {
    this.buffer = [];
  }

  /** Pulls sent from now on belong to a new era; the old ones' status answers no longer count. */
  newEra(): void {
    this.era++;
    this.requested = 0;
  }

  /** Asks for what may come, and one more that waits (at least one: every pull renews the pin). */
  pull(): void {
    if (this.closed) return;
    const n = Math.max(1, this.options.maxAckPending + 1 - this.buffer.length - this.requested);
    const request = {
      batch: n,
      expires: nanos(this.options.expiresMs),
      ...(this.options.group ? { group: this.options.group, ...(this.pinId ? { id: this.pinId } : {}) } : {}),
    };
    try {
      this.nc.publish(this.next_, JSON.stringify(request), { reply: `${this.base}.${this.era}` });
      this.requested += n;
    } catch {
      // The connection is closed or reconnecting: the next tick pulls again.
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.sub.unsubscribe();
    this.buffer = [];
    this.wake?.();
  }

  private receive(msg: Msg): void {
    const code = msg.headers?.code ?? 0;
    if (code !== 0 || !msg.reply) {
      // A status is addressed to the pull's reply subject (a delivery keeps its stream subject).
      const current = msg.subject === `${this.base}.${this.era}`;
      if (current) {
        // The pull ended (expired, or refused): what it still waited for is not coming.
        this.requested = Math.max(0, this.requested - Number(msg.headers?.get("Nats-Pending-Messages") || 0));
        if (code === 408) this.keepOneWaiting();
      }
      if (code !== 408 && code !== 100) this.hooks.status(code, msg.headers?.description ?? "", current);
      return;
    }
    // Of any era: a delivery does not say which pull it answers.
    this.requested = Math.max(0, this.requested - 1);
    this.keepOneWaiting();
    const ack = parseAckSubject(msg.reply);
    if (!ack) return;
    const d = new Delivery(msg, ack.stream, ack.consumer, ack.seq, ack.delivery);
    if (!this.hooks.delivered(d)) return;
    this.buffer.push(d);
    this.wake?.();
    this.wake = undefined;
  }

  /** Every pull was answered: another one, so that one waits at the server. */
  private keepOneWaiting(): void {
    if (this.requested === 0) this.pull();
  }
}
