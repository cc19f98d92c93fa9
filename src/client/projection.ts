import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/transport-node";
import { NotFoundError, ValidationError } from "../contract/errors.js";
import { isConsumerExists, isConsumerNotFound } from "../contract/nats-failures.js";
import { PROJECTION_CONSUMER_PREFIX as CONSUMER_PREFIX, PROJECTION_NAME as NAME, projectionLag } from "../contract/projections.js";
import { Subjects } from "../contract/subjects.js";
import { FencedError } from "./errors.js";
import { type Delivery, Feed } from "./projection-feed.js";
import { ProjectionLog } from "./projection-log.js";
import { backoffMs, type RetryOptions, retryOptions } from "./retry.js";
import { decodeStreamMessage, type StreamEvent } from "./subscribe.js";

export type ProjectionMode = "ordered" | "shared";
/** Where a new projection starts: the stream's start, only events stored from now on, a stream sequence or a time. */
export type ProjectionStart = "start" | "new" | { seq: number } | { time: Date | string };
/** Where a reset sends a projection: its start (the `from` it was created with), a stream sequence or a time. */
export type ProjectionResetTo = "start" | { seq: number } | { time: Date | string };
/**
 * What a handler gets: `{sequence, event}`, or `{sequence, erased}` for an erased actor's tombstone;
 * ordered, also `epoch`: the fencing token of this process's activation, higher in every later
 * activation in any process. An effect written with it (KvReadModel does) is refused once a later
 * activation has written.
 */
export type ProjectionItem = StreamEvent & { epoch?: number };
export type ProjectionHandler = (item: ProjectionItem) => unknown;

export interface ProjectOptions {
  /** Only the events of actors of this type; default all actors. */
  actorType?: string;
  /** `ordered` (default): one process at a time, in stream order, the others stand by. `shared`: competing consumers. */
  mode?: ProjectionMode;
  /** Where the projection starts when it does not exist yet (default "start"); an existing one resumes at its ack floor. */
  from?: ProjectionStart;
  /** Attempts per event, the first included (default 5), with exponential backoff between them. */
  maxAttempts?: number;
  /** The pause after the first failed attempt (default 100 ms), doubling up to maxDelayMs (default 2000 ms). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** After maxAttempts: "stop" (default) the projection, or "skip" the event, recorded (the latest 100 are kept). */
  onFailure?: "stop" | "skip";
  /**
   * ordered: how long the server keeps a silent active process pinned before a standby takes over
   * (default 30 s). A process that stops cleanly hands over at once. A setting of the projection:
   * a process that asks for another value than the projection has is refused.
   */
  pinTtlMs?: number;
  /** How long an event may go unacknowledged before JetStream delivers it again (default 30 s); a setting of the projection. */
  ackWaitMs?: number;
  /** Events fetched ahead of the handler (default 256), at most twice as many unacknowledged; a setting of the projection. */
  batch?: number;
}

export interface ProjectionFailure {
  /** The stream sequence of the event the handler failed on, when there was one. */
  sequence?: number;
  error: Error;
}

export type ProjectionState = "standby" | "active" | "running" | "failed" | "stopped" | "removed";

export interface ProjectionStatus {
  name: string;
  consumer: string;
  mode: ProjectionMode;
  /** ordered: active or standby; shared: running; then failed, stopped or removed. */
  state: ProjectionState;
  /** The checkpoint: every event up to this stream sequence is handled. */
  ackFloor: number;
  /** The lag: events stored but not acknowledged yet. */
  pending: number;
  redelivered: number;
  failure?: ProjectionFailure;
  /** The skipped sequences, the latest 100. */
  skipped: number[];
}

/** A projection as `projections ls` shows it, from its consumer alone. */
export interface ProjectionInfo {
  name: string;
  mode: ProjectionMode;
  filter: string;
  ackFloor: number;
  pending: number;
  redelivered: number;
  /** ordered: the pin id of the active process ("" when none is pinned). */
  active: string;
  failed?: number;
  /** The skipped sequences, the latest 100. */
  skipped: number[];
}

export interface ProjectionEvents {
  /** The projection reads (emitted once the caller holds it). */
  started: [];
  /** ordered: this process became the one that receives; pinId is the server's name for it, epoch its fencing token. */
  active: [{ pinId: string; epoch: number }];
  /** ordered: this process lost its pin (or found a later activation's write) and waits. */
  standby: [];
  retry: [{ sequence: number; attempt: number; delayMs: number; error: Error }];
  skipped: [{ sequence: number; error: Error }];
  failed: [ProjectionFailure];
  stopped: [];
}

/** A projection's settings as its consumer has them. */
interface Settings {
  pinTtlMs: number;
  ackWaitMs: number;
  batch: number;
}

export const DEFAULT_PIN_TTL_MS = 30_000;
const DEFAULT_ACK_WAIT_MS = 30_000;
const DEFAULT_BATCH = 256;
const DEFAULT_MAX_ATTEMPTS = 5;
// The priority group every process of an ordered projection pulls in (at most 16 characters).
const GROUP = "projection";
const PIN_HEADER = "Nats-Pin-Id";
// Consumer metadata: what `ls` shows beside JetStream's own counts.
const META_MODE = "eventstore_mode";
const META_FAILED = "eventstore_failed";
const RESET_ATTEMPTS = 5;
// shared: how long a pull waits at the server (a new one goes out every half of it), and how often
// the consumer is looked at (is it still there?).
const SHARED_EXPIRES_MS = 10_000;
const ACK_ACK_TIMEOUT_MS = 5000;

// No $JS.API.INFO round trip first: the calls that follow report a missing JetStream themselves,
// and a projector's permissions need not include it.
function manager(nc: NatsConnection): Promise<JetStreamManager> {
  return jetstreamManager(nc, { checkAPI: false });
}

export function consumerName(name: string): string {
  if (!NAME.test(name)) throw new ValidationError(`projection name must match ${NAME.source}, got ${JSON.stringify(name)}`);
  return CONSUMER_PREFIX + name;
}

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

async function consumerConfig(
  jsm: JetStreamManager,
  stream: string,
  name: string,
  mode: ProjectionMode,
  options: ProjectOptions,
): Promise<Partial<ConsumerConfig>> {
  const subjects = new Subjects(stream);
  const pinTtlMs = options.pinTtlMs ?? DEFAULT_PIN_TTL_MS;
  const batch = options.batch ?? DEFAULT_BATCH;
  return {
    durable_name: consumerName(name),
    ack_policy: AckPolicy.Explicit,
    filter_subject: options.actorType === undefined ? subjects.eventsWildcard : subjects.projectionFilter(options.actorType),
    ack_wait: nanos(options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS),
    metadata: { [META_MODE]: mode },
    // What the processes may hold unacknowledged between them. ordered: a dead active's events
    // leave room for the heir; a process's pulls always leave one waiting beyond it (Feed).
    max_ack_pending: batch * 2,
    ...(await startConfig(jsm, stream, options.from ?? "start")),
    ...(mode === "ordered"
      ? {
          priority_groups: [GROUP],
          priority_policy: "pinned_client",
          priority_timeout: nanos(pinTtlMs),
        }
      : {}),
  };
}

async function startConfig(jsm: JetStreamManager, stream: string, from: ProjectionStart): Promise<Partial<ConsumerConfig>> {
  if (from === "start") return { deliver_policy: DeliverPolicy.All };
  if (from === "new") {
    // A sequence rather than DeliverPolicy.New, so that a reset back to the start stays where it began.
    return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: (await jsm.streams.info(stream)).state.last_seq + 1 };
  }
  if ("seq" in from) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: checkSequence(from.seq) };
  return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: checkTime(from.time).toISOString() };
}

/**
 * The projection's consumer: the existing one when its mode and filter agree and the settings this
 * process asked for (if any) are the ones it has, else a new one. Returns its settings.
 */
async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig>,
  mode: ProjectionMode,
  asked: ProjectOptions,
): Promise<Settings> {
  const name = config.durable_name!;
  const projection = name.slice(CONSUMER_PREFIX.length);
  for (let attempt = 1; ; attempt++) {
    const existing = await consumerInfo(jsm, stream, name);
    if (existing) {
      const existingMode = existing.config.metadata?.[META_MODE];
      if (existingMode !== mode || existing.config.filter_subject !== config.filter_subject) {
        throw new ValidationError(
          `projection ${projection} exists as ${String(existingMode)} over ${String(existing.config.filter_subject)}; ` +
            "remove it (projections rm) to change its mode or filter",
        );
      }
      const settings = settingsOf(existing, asked);
      const differing = (["pinTtlMs", "ackWaitMs", "batch"] as const).filter(
        (k) => asked[k] !== undefined && asked[k] !== settings[k] && (k !== "pinTtlMs" || mode === "ordered"),
      );
      if (differing.length > 0) {
        throw new ValidationError(
          `projection ${projection} runs with ${differing.map((k) => `${k} ${settings[k]}`).join(", ")}; ` +
            `this process asked for ${differing.map((k) => `${k} ${asked[k]}`).join(", ")}. ` +
            "Start it with the projection's settings (or without them), or remove it (projections rm) to change them",
        );
      }
      return settings;
    }
    try {
      await jsm.consumers.add(stream, config);
      return settingsOf(undefined, asked);
    } catch (err) {
      // Another process created it first (with its own start): read that one.
      if (attempt > 1 || !isConsumerExists(err)) throw err;
    }
  }
}

/** The settings a projection runs with: its consumer's, or (a new one) those asked for or the defaults. */
function settingsOf(info: ConsumerInfo | undefined, asked: ProjectOptions): Settings {
  const ms = (ns: number | undefined) => (ns === undefined ? undefined : Math.round(ns / 1e6));
  const config = info?.config as (ConsumerConfig & { priority_timeout?: number }) | undefined;
  return {
    pinTtlMs: ms(config?.priority_timeout) ?? asked.pinTtlMs ?? DEFAULT_PIN_TTL_MS,
    ackWaitMs: ms(config?.ack_wait) ?? asked.ackWaitMs ?? DEFAULT_ACK_WAIT_MS,
    // The consumer's max_ack_pending is twice it.
    batch: (config?.max_ack_pending ? config.max_ack_pending / 2 : undefined) ?? asked.batch ?? DEFAULT_BATCH,
  };
}

async function consumerInfo(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (err) {
    if (isConsumerNotFound(err)) return undefined;
    throw err;
  }
}

/** Records on the consumer the event the projection stopped on (`ls` shows it; a reset clears it). */
async function recordFailed(jsm: JetStreamManager, stream: string, name: string, sequence: number): Promise<void> {
  const info = await jsm.consumers.info(stream, name);
  await jsm.consumers.update(stream, name, { metadata: { ...info.config.metadata, [META_FAILED]: String(sequence) } });
}

function counts(info: ConsumerInfo): { ackFloor: number; pending: number; redelivered: number } {
  return {
    ackFloor: info.ack_floor.stream_seq,
    pending: projectionLag(info),
    redelivered: info.num_redelivered,
  };
}

// nats-server >= 2.11 reports the pinned client per priority group; the library's type lacks it.
function pinnedClient(info: ConsumerInfo): string {
  const groups = (info as { priority_groups?: { group: string; pinned_client_id?: string }[] }).priority_groups;
  return groups?.find((g) => g.group === GROUP)?.pinned_client_id ?? "";
}

function describe(info: ConsumerInfo, skipped: number[]): ProjectionInfo {
  const metadata = info.config.metadata ?? {};
  const failed = metadata[META_FAILED];
  return {
    name: info.name.slice(CONSUMER_PREFIX.length),
    mode: (metadata[META_MODE] as ProjectionMode | undefined) ?? "shared",
    filter: info.config.filter_subject ?? info.config.filter_subjects?.join(",") ?? "",
    ...counts(info),
    active: pinnedClient(info),
    ...(failed ? { failed: Number(failed) } : {}),
    skipped,
  };
}

/** Every projection of the stream, by name. */
export async function listProjections(nc: NatsConnection, stream: string): Promise<ProjectionInfo[]> {
  const jsm = await manager(nc);
  const log = new ProjectionLog(jsm, jetstream(nc), stream);
  const found: ProjectionInfo[] = [];
  for await (const info of jsm.consumers.list(stream)) {
    if (info.name.startsWith(CONSUMER_PREFIX) && info.config.metadata?.[META_MODE]) {
      found.push(describe(info, await log.skipped(info.name.slice(CONSUMER_PREFIX.length))));
    }
  }
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Moves the projection's position: the next event handled is the first at or after the target.
 * Its running processes pick it up without a restart: JetStream delivers from there to the pull
 * each keeps waiting, and a process drops what it fetched before as that first delivery arrives.
 * A reset never goes below the projection's start (the `from` it was created with). Returns the sequence.
 */
export async function resetProjection(nc: NatsConnection, stream: string, name: string, to: ProjectionResetTo): Promise<number> {
  const jsm = await manager(nc);
  const consumer = consumerName(name);
  const info = await consumerInfo(jsm, stream, consumer);
  if (!info) throw new NotFoundError(`no projection ${JSON.stringify(name)} on stream ${stream}`);
  const seq = await resetTarget(jsm, stream, info, to);
  // A failure recorded before the reset is history: the replay decides again.
  if (info.config.metadata?.[META_FAILED] !== undefined) {
    const { [META_FAILED]: _, ...rest } = info.config.metadata;
    await jsm.consumers.update(stream, consumer, { metadata: rest });
  }
  return (await jsm.consumers.reset(stream, consumer, seq)).reset_seq;
}

async function resetTarget(jsm: JetStreamManager, stream: string, info: ConsumerInfo, to: ProjectionResetTo): Promise<number> {
  if (to !== "start") return "seq" in to ? checkSequence(to.seq) : sequenceAt(jsm, stream, checkTime(to.time));
  const { deliver_policy, opt_start_seq, opt_start_time } = info.config;
  if (deliver_policy === DeliverPolicy.StartSequence) return opt_start_seq!;
  if (deliver_policy === DeliverPolicy.StartTime) return sequenceAt(jsm, stream, new Date(opt_start_time!));
  return 1;
}

/** The first stream sequence stored at or after the time (past the end when none is). */
async function sequenceAt(jsm: JetStreamManager, stream: string, time: Date): Promise<number> {
  const msg = await jsm.direct.getMessage(stream, { start_time: time });
  return msg ? msg.seq : (await jsm.streams.info(stream)).state.last_seq + 1;
}

/**
 * Deletes the projection's consumer, its position with it, and its records (epochs, skips). Its
 * running processes stop: the server answers the pull each keeps waiting, and each drops what it fetched.
 * False when there was none.
 */
export async function removeProjection(nc: NatsConnection, stream: string, name: string): Promise<boolean> {
  const jsm = await manager(nc);
  let removed: boolean;
  try {
    removed = await jsm.consumers.delete(stream, consumerName(name));
  } catch (err) {
    if (!isConsumerNotFound(err)) throw err;
    removed = false;
  }
  await new ProjectionLog(jsm, jetstream(nc), stream).forget(name);
  return removed;
}

function checkSequence(seq: number): number {
  if (!(Number.isSafeInteger(seq) && seq >= 1)) throw new ValidationError(`a stream sequence must be an integer >= 1, got ${seq}`);
  return seq;
}

function checkTime(time: Date | string): Date {
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) throw new ValidationError(`not a time: ${JSON.stringify(String(time))}`);
  return date;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
