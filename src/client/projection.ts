import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { type ConsumerInfo, type JetStreamManager, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { PROJECTION_CONSUMER_PREFIX as CONSUMER_PREFIX } from "../contract/projections.js";
import { FencedError } from "./errors.js";
import {
  consumerConfig,
  consumerInfo,
  counts,
  ensureConsumer,
  GROUP,
  manager,
  pinnedClient,
  recordFailed,
  type Settings,
} from "./projection-consumer.js";
import { type Delivery, Feed } from "./projection-feed.js";
import { ProjectionLog } from "./projection-log.js";
import type {
  ProjectionEvents,
  ProjectionFailure,
  ProjectionHandler,
  ProjectionItem,
  ProjectionMode,
  ProjectionState,
  ProjectionStatus,
  ProjectOptions,
} from "./projection-types.js";
import { backoffMs, type RetryOptions, retryOptions } from "./retry.js";
import { decodeStreamMessage } from "./subscribe.js";

export { listProjections, removeProjection, resetProjection } from "./projection-admin.js";
export { consumerName, DEFAULT_PIN_TTL_MS } from "./projection-consumer.js";
export type * from "./projection-types.js";

const PIN_HEADER = "Nats-Pin-Id";
const RESET_ATTEMPTS = 5;
// shared: how long a pull waits at the server (a new one goes out every half of it), and how often
// the consumer is looked at (is it still there?).
const SHARED_EXPIRES_MS = 10_000;
const ACK_ACK_TIMEOUT_MS = 5000;
const DEFAULT_MAX_ATTEMPTS = 5;

/**
 * A named durable reader of the events stream: a JetStream pull consumer `proj-<name>` whose ack
 * floor is the checkpoint. Each event is acknowledged after its handler resolves.
 *
 * ordered: the server pins one process of the priority group; the others' pulls wait. The active
 * process's pulls go out on a timer (Feed), so its pin is renewed whatever its handler does. It
 * handles nothing more once it knows the pin is gone: a 423 answer, another pin in the consumer's
 * info, or its own event loop found standing still longer than a pull's expiry (a pause, a blocked
 * loop), after which it asks the server whether it still holds the pin before it goes on.
 */
export class Projection extends EventEmitter<ProjectionEvents> {
  private state: ProjectionState;
  private failure?: ProjectionFailure;
  private pinId?: string;
  private lostPin?: string;
  private epoch?: number;
  private activatedAt = 0;
  private awaitingReset = false;
  private lastHandled = 0;
  private lastDelivery = 0;
  private lastReceived = 0;
  private lastAcked?: Delivery;
  private lastTick = performance.now();
  private suspect = false;
  private stopRequested = false;
  private stopping?: Promise<void>;
  private readonly feed: Feed;
  private readonly expiresMs: number;
  private readonly poller: NodeJS.Timeout;
  private readonly filterPrefix: string;
  private readonly loop: Promise<void>;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly log: ProjectionLog,
    private readonly stream: string,
    readonly name: string,
    readonly mode: ProjectionMode,
    filter: string,
    private readonly handler: ProjectionHandler,
    private readonly retry: RetryOptions,
    private readonly onFailure: "stop" | "skip",
    settings: Settings,
  ) {
    super();
    this.state = mode === "ordered" ? "standby" : "running";
    // The filter ends in ">": a delivery's subject starts with what comes before it.
    this.filterPrefix = filter.slice(0, -1);
    // ordered: a pull every quarter of the pin TTL, each waiting half of it.
    this.expiresMs = mode === "ordered" ? Math.floor(settings.pinTtlMs / 2) : SHARED_EXPIRES_MS;
    this.feed = new Feed(
      nc,
      {
        stream,
        consumer: this.consumer,
        maxAckPending: settings.batch * 2,
        expiresMs: this.expiresMs,
        ...(mode === "ordered" ? { group: GROUP } : {}),
      },
      { delivered: (d) => this.delivered(d), status: (code, description, current) => this.onStatus(code, description, current) },
      () => this.tick(),
    );
    this.poller = setInterval(() => void this.poll(), mode === "ordered" ? Math.floor(settings.pinTtlMs / 2) : SHARED_EXPIRES_MS);
    this.loop = this.run();
    setImmediate(() => this.emit("started"));
  }

  static async start(nc: NatsConnection, stream: string, name: string, handler: ProjectionHandler, options: ProjectOptions = {}) {
    const mode = options.mode ?? "ordered";
    const retry = retryOptions({
      attempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      ...(options.initialDelayMs === undefined ? {} : { initialDelayMs: options.initialDelayMs }),
      ...(options.maxDelayMs === undefined ? {} : { maxDelayMs: options.maxDelayMs }),
    });
    const { pinTtlMs, batch, ackWaitMs } = options;
    if (pinTtlMs !== undefined && !(Number.isInteger(pinTtlMs) && pinTtlMs >= 3000))
      throw new RangeError(`pinTtlMs must be an integer >= 3000, got ${pinTtlMs}`);
    if (batch !== undefined && !(Number.isInteger(batch) && batch >= 1))
      throw new RangeError(`batch must be an integer >= 1, got ${batch}`);
    if (ackWaitMs !== undefined && !(Number.isInteger(ackWaitMs) && ackWaitMs >= 1))
      throw new RangeError(`ackWaitMs must be an integer >= 1, got ${ackWaitMs}`);
    const jsm = await manager(nc);
    const config = await consumerConfig(jsm, stream, name, mode, options);
    const settings = await ensureConsumer(jsm, stream, config, mode, options);
    const log = new ProjectionLog(jsm, jetstream(nc), stream);
    if (mode === "ordered" || options.onFailure === "skip") await log.ensure();
    return new Projection(nc, jsm, log, stream, name, mode, config.filter_subject!, handler, retry, options.onFailure ?? "stop", settings);
  }

  get consumer(): string {
    return CONSUMER_PREFIX + this.name;
  }

  /** The checkpoint, the lag and this process's state; `removed` (and zeros) once the projection is gone. */
  async status(): Promise<ProjectionStatus> {
    const info = await consumerInfo(this.jsm, this.stream, this.consumer);
    if (!info) this.removed();
    return {
      name: this.name,
      consumer: this.consumer,
      mode: this.mode,
      state: this.state,
      ...(info ? counts(info) : { ackFloor: 0, pending: 0, redelivered: 0 }),
      ...(this.failure ? { failure: this.failure } : {}),
      skipped: info ? await this.log.skipped(this.name) : [],
    };
  }

  /** Finishes the event in hand, acknowledges it and stops; an active ordered process hands over at once. */
  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  /** Resolves when the projection ends: stopped, failed or removed. */
  done(): Promise<void> {
    return this.loop;
  }

  private async close(): Promise<void> {
    this.stopRequested = true;
    this.feed.close();
    await this.loop;
    // The acks before it are processed in order: once this one is confirmed, the ack floor is where we stopped.
    await this.lastAcked?.ackAck(this.nc, ACK_ACK_TIMEOUT_MS).catch(() => undefined);
    if (this.mode === "ordered" && this.state === "active") await this.handOver();
    if (this.state !== "failed" && this.state !== "removed") this.setState("stopped");
    this.emit("stopped");
  }

  /**
   * Still pinned: the events this process fetched and did not handle are made deliverable again
   * (a reset to the ack floor), then the pin is released, so a standby takes over with them at once.
   */
  private async handOver(): Promise<void> {
    try {
      if (pinnedClient(await this.jsm.consumers.info(this.stream, this.consumer)) !== this.pinId) return;
      await this.jsm.consumers.reset(this.stream, this.consumer);
      await this.jsm.consumers.unpin(this.stream, this.consumer, GROUP);
    } catch {
      // The pin then lapses after its TTL, when a standby takes over all the same.
    }
  }

  private async run(): Promise<void> {
    try {
      for (;;) {
        const d = await this.feed.next();
        if (!d || this.stopRequested) break;
        if (this.mode === "ordered" && !(await this.inOrder(d))) continue;
        if (!(await this.handle(d))) break;
      }
    } catch (err) {
      this.fail({ error: asError(err) });
    } finally {
      this.feed.close();
      clearInterval(this.poller);
    }
  }

  /**
   * A delivery as it arrives. Only this consumer's, within its filter: anything else in the inbox
   * was put there by someone else. A delivery sequence that does not grow means the consumer was
   * reset (by an operator, or a rewind): everything buffered was fetched before, and is dropped.
   */
  private delivered(d: Delivery): boolean {
    if (d.stream !== this.stream || d.consumer !== this.consumer || !d.subject.startsWith(this.filterPrefix)) return false;
    if (d.delivery <= this.lastReceived) this.feed.drop();
    this.lastReceived = d.delivery;
    return true;
  }

  private onStatus(code: number, description: string, current: boolean): void {
    // A 423 to a pull sent for an earlier pin says nothing about the current one.
    if (code === 423 && current) this.lose();
    else if (code === 409 && /consumer deleted/i.test(description)) this.removed();
    else if (code === 400 && current) this.fail({ error: new Error(`the server refused the projection's pull: ${description}`) });
  }

  /** The pull timer's tick: a gap of a whole pull expiry since the last one means the process stood still. */
  private tick(): void {
    const now = performance.now();
    if (now - this.lastTick > this.expiresMs) this.suspect = true;
    this.lastTick = now;
  }

  /** A look at the consumer: is it still there; is this process still pinned; did a dead active leave events behind? */
  private async poll(): Promise<void> {
    const asked = performance.now();
    let info: ConsumerInfo | undefined;
    try {
      info = await consumerInfo(this.jsm, this.stream, this.consumer);
    } catch {
      return; // Not reachable now: the next look.
    }
    if (!info) return this.removed();
    if (this.mode !== "ordered" || this.stopRequested) return;
    const pinned = pinnedClient(info);
    if (this.pinId !== undefined) {
      if (this.activatedAt < asked && pinned !== this.pinId) this.lose();
    } else if (pinned === "" && info.num_ack_pending > 0) {
      // Nobody is pinned, and events are out with a process that is gone: JetStream would deliver
      // them again only after their ack wait, and pins a standby only when it delivers something.
      await this.resetToAckFloor().catch(() => undefined);
    }
  }

  /** This process no longer holds the pin: it drops what it fetched and waits as a standby. */
  private lose(): void {
    if (this.pinId === undefined) return;
    this.feed.drop();
    this.lostPin = this.pinId;
    this.pinId = undefined;
    this.epoch = undefined;
    this.feed.pinId = undefined;
    this.feed.newEra();
    this.setState("standby");
    this.emit("standby");
  }

  private removed(): void {
    if (this.state === "removed") return;
    this.setState("removed");
    this.feed.close();
  }

  /**
   * Whether an ordered projection handles this message now. A process that becomes active rewinds
   * delivery to the ack floor first: the previous active may have died holding events that
   * JetStream would redeliver only after their ack wait, behind newer ones. So does a process that
   * finds deliveries missing (their delivery sequences jump: a consumer leader changed, or messages
   * were lost with a connection). Everything delivered before the rewind is dropped
   * unacknowledged; it comes again after it, in order.
   */
  private async inOrder(msg: Delivery): Promise<boolean> {
    const pin = msg.headers?.get(PIN_HEADER) ?? "";
    if (pin === "" || pin === this.lostPin) return false;
    if (pin !== this.pinId) {
      await this.activate(pin);
      return false;
    }
    if (!(await this.stillPinned())) return false;
    const delivery = msg.delivery;
    // A reset restarts delivery sequences at 1: this process's rewind, or an operator's reset, a replay from there.
    if (delivery === 1) {
      if (!this.awaitingReset) this.lastHandled = 0;
      this.awaitingReset = false;
    } else if (this.awaitingReset) {
      return false;
    } else if (delivery !== this.lastDelivery + 1) {
      await this.rewind();
      return false;
    }
    this.lastDelivery = delivery;
    // Delivered again after it was handled (its ack wait ran out in the buffer, or a rewind).
    if (msg.seq <= this.lastHandled) {
      msg.ack();
      return false;
    }
    return true;
  }

  private async activate(pin: string): Promise<void> {
    this.pinId = pin;
    this.feed.pinId = pin;
    this.feed.newEra();
    this.lostPin = undefined;
    this.activatedAt = performance.now();
    this.suspect = false;
    // What this process handled when it was active before proves nothing now: another may have replayed since.
    this.lastHandled = 0;
    await this.rewind();
    const epoch = await this.log.activate(this.name, pin);
    if (this.pinId !== pin) return; // Lost again meanwhile.
    this.epoch = epoch;
    this.setState("active");
    this.emit("active", { pinId: pin, epoch });
  }

  /**
   * The pull timer ran late (the process or its event loop stood still): the pin may have lapsed
   * and another process may be active. A pull renews the pin if it is still this process's; the
   * consumer's info, asked after it, tells.
   */
  private async stillPinned(): Promise<boolean> {
    if (!this.suspect && performance.now() - this.lastTick <= this.expiresMs) return true;
    const pin = this.pinId;
    this.feed.pull();
    let pinned = "";
    try {
      const info = await consumerInfo(this.jsm, this.stream, this.consumer);
      if (!info) {
        this.removed();
        return false;
      }
      pinned = pinnedClient(info);
    } catch {
      // Not known: as good as lost.
    }
    if (this.pinId === pin && pinned === pin) {
      this.suspect = false;
      this.lastTick = performance.now();
      return true;
    }
    this.lose();
    return false;
  }

  private async rewind(): Promise<void> {
    this.awaitingReset = true;
    this.feed.drop();
    await this.resetToAckFloor();
  }

  private async resetToAckFloor(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.jsm.consumers.reset(this.stream, this.consumer);
        return;
      } catch (err) {
        if (attempt >= RESET_ATTEMPTS) throw err;
        await sleep(backoffMs(this.retry, attempt));
      }
    }
  }

  /** Runs the handler with retries; false when the projection must stop. */
  private async handle(msg: Delivery): Promise<boolean> {
    const pin = this.pinId;
    const item: ProjectionItem = { ...decodeStreamMessage(msg), ...(this.epoch === undefined ? {} : { epoch: this.epoch }) };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.handler(item);
        this.acknowledge(msg);
        return true;
      } catch (err) {
        const error = asError(err);
        // A later activation wrote: this process is not the active one any more.
        if (error instanceof FencedError && this.mode === "ordered") {
          this.lose();
          return true;
        }
        if (attempt >= this.retry.attempts) {
          if (this.onFailure === "stop") {
            this.fail({ sequence: msg.seq, error });
            await recordFailed(this.jsm, this.stream, this.consumer, msg.seq);
            return false;
          }
          await this.log.recordSkip(this.name, msg.seq);
          this.acknowledge(msg);
          this.emit("skipped", { sequence: msg.seq, error });
          return true;
        }
        const delayMs = backoffMs(this.retry, attempt);
        this.emit("retry", { sequence: msg.seq, attempt, delayMs, error });
        msg.working();
        await sleep(delayMs);
        // Lost the pin while waiting: the next active tries it.
        if (this.pinId !== pin || this.stopRequested || this.state === "removed") return true;
      }
    }
  }

  private acknowledge(msg: Delivery): void {
    msg.ack();
    this.lastAcked = msg;
    this.lastHandled = msg.seq;
  }

  private fail(failure: ProjectionFailure): void {
    this.failure = failure;
    this.setState("failed");
    this.emit("failed", failure);
    this.feed.close();
  }

  private setState(state: ProjectionState): void {
    this.state = state;
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
