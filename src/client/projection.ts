import { EventEmitter } from "node:events";
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/transport-node";
import { NotFoundError, ValidationError } from "../errors.js";
import { isConsumerExists, isConsumerNotFound } from "../jetstream/codes.js";
import { sleep } from "../sleep.js";
import { Subjects } from "../subjects.js";
import { backoffMs, type RetryOptions, retryOptions } from "./retry.js";
import { decodeStreamMessage, type StreamEvent } from "./subscribe.js";

export type ProjectionMode = "ordered" | "shared";
/** Where a new projection starts: the stream's start, only events stored from now on, a stream sequence or a time. */
export type ProjectionStart = "start" | "new" | { seq: number } | { time: Date | string };
/** Where a reset sends a projection: its start (the `from` it was created with), a stream sequence or a time. */
export type ProjectionResetTo = "start" | { seq: number } | { time: Date | string };
/** What a handler gets: `{sequence, event}`, or `{sequence, erased}` for an erased actor's tombstone. */
export type ProjectionHandler = (item: StreamEvent) => unknown;

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
  /** After maxAttempts: "stop" (default) the projection, or "skip" the event, recorded on the consumer. */
  onFailure?: "stop" | "skip";
  /**
   * ordered: how long the server keeps a silent active process pinned before a standby takes over
   * (default 30 s). A process that stops cleanly hands over at once.
   */
  pinTtlMs?: number;
  /** How long an event may go unacknowledged before JetStream delivers it again (default 30 s). */
  ackWaitMs?: number;
  /** Events fetched ahead of the handler (default 256); ordered: at most twice as many unacknowledged. */
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
  skipped: number[];
}

export interface ProjectionEvents {
  /** The projection reads (emitted once the caller holds it). */
  started: [];
  /** ordered: this process became the one that receives; pinId is the server's name for it. */
  active: [{ pinId: string }];
  /** ordered: this process lost its pin and waits. */
  standby: [];
  retry: [{ sequence: number; attempt: number; delayMs: number; error: Error }];
  skipped: [{ sequence: number; error: Error }];
  failed: [ProjectionFailure];
  stopped: [];
}

export const DEFAULT_PIN_TTL_MS = 30_000;
const DEFAULT_ACK_WAIT_MS = 30_000;
const DEFAULT_BATCH = 256;
const DEFAULT_MAX_ATTEMPTS = 5;
/** A projection's name (contract); the metrics take no other as a label value. */
export const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const CONSUMER_PREFIX = "proj-";
// The priority group every process of an ordered projection pulls in (at most 16 characters).
const GROUP = "projection";
const PIN_HEADER = "Nats-Pin-Id";
// Consumer metadata: what `ls` shows beside JetStream's own counts.
const META_MODE = "eventstore_mode";
const META_SKIPPED = "eventstore_skipped";
const META_FAILED = "eventstore_failed";
// Skipped sequences kept in the metadata, the latest ones.
const SKIPPED_KEPT = 100;
const RESET_ATTEMPTS = 5;

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
 */
export class Projection extends EventEmitter<ProjectionEvents> {
  private state: ProjectionState;
  private failure?: ProjectionFailure;
  private pinId?: string;
  private lostPin?: string;
  private awaitingReset = false;
  private lastHandled = 0;
  private lastDelivery = 0;
  private lastAcked?: JsMsg;
  private stopRequested = false;
  private stopping?: Promise<void>;
  private readonly loop: Promise<void>;

  private constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    readonly name: string,
    readonly mode: ProjectionMode,
    private readonly handler: ProjectionHandler,
    private readonly retry: RetryOptions,
    private readonly onFailure: "stop" | "skip",
    private readonly messages: ConsumerMessages,
  ) {
    super();
    this.state = mode === "ordered" ? "standby" : "running";
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
    const pinTtlMs = options.pinTtlMs ?? DEFAULT_PIN_TTL_MS;
    const batch = options.batch ?? DEFAULT_BATCH;
    if (!(Number.isInteger(pinTtlMs) && pinTtlMs >= 3000)) throw new RangeError(`pinTtlMs must be an integer >= 3000, got ${pinTtlMs}`);
    if (!(Number.isInteger(batch) && batch >= 1)) throw new RangeError(`batch must be an integer >= 1, got ${batch}`);
    const jsm = await manager(nc);
    const config = await consumerConfig(jsm, stream, name, mode, options, pinTtlMs, batch);
    await ensureConsumer(jsm, stream, config);
    const consumer = await jetstream(nc).consumers.get(stream, config.durable_name!);
    const messages = await consumer.consume({
      max_messages: batch,
      // An ordered projection's pulls renew its pin: the server must see one well within the pin TTL.
      ...(mode === "ordered" ? { group: GROUP, expires: Math.floor(pinTtlMs / 3) } : {}),
    });
    return new Projection(jsm, stream, name, mode, handler, retry, options.onFailure ?? "stop", messages);
  }

  get consumer(): string {
    return CONSUMER_PREFIX + this.name;
  }

  /** The checkpoint, the lag and this process's state. */
  async status(): Promise<ProjectionStatus> {
    const info = await this.jsm.consumers.info(this.stream, this.consumer);
    return {
      name: this.name,
      consumer: this.consumer,
      mode: this.mode,
      state: this.state,
      ...counts(info),
      ...(this.failure ? { failure: this.failure } : {}),
      skipped: skippedOf(info),
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
    this.messages.stop();
    await this.loop;
    // The acks before it are processed in order: once this one is confirmed, the ack floor is where we stopped.
    await this.lastAcked?.ackAck().catch(() => false);
    if (this.mode === "ordered" && this.state === "active") await this.handOver();
    if (this.state !== "failed" && this.state !== "removed") this.setState("stopped");
    this.emit("stopped");
  }

  private async handOver(): Promise<void> {
    try {
      const pinned = pinnedClient(await this.jsm.consumers.info(this.stream, this.consumer));
      if (pinned === this.pinId) await this.jsm.consumers.unpin(this.stream, this.consumer, GROUP);
    } catch {
      // The pin then lapses after its TTL, when a standby takes over all the same.
    }
  }

  private async run(): Promise<void> {
    void this.watch();
    try {
      for await (const msg of this.messages) {
        if (this.stopRequested) break;
        if (this.mode === "ordered" && !(await this.inOrder(msg))) continue;
        if (!(await this.handle(msg))) break;
      }
    } catch (err) {
      this.fail({ error: asError(err) });
    } finally {
      this.messages.stop();
    }
  }

  private async watch(): Promise<void> {
    for await (const s of this.messages.status()) {
      if (s.type === "consumer_unpinned" && this.state === "active") {
        this.lostPin = this.pinId;
        this.pinId = undefined;
        this.setState("standby");
        this.emit("standby");
      } else if (s.type === "consumer_deleted" || s.type === "consumer_not_found") {
        // Removed (projections rm): while a pull waits, the server says so; otherwise the library
        // finds the consumer gone when the heartbeats stop.
        this.setState("removed");
        this.messages.stop();
      }
    }
  }

  /**
   * Whether an ordered projection handles this message now. A process that becomes active rewinds
   * delivery to the ack floor first: the previous active may have died holding events that
   * JetStream would redeliver only after their ack wait, behind newer ones. So does a process that
   * finds deliveries missing (their delivery sequences jump: a consumer leader changed, or messages
   * were lost with a connection). Everything delivered before the rewind is dropped
   * unacknowledged; it comes again after it, in order.
   */
  private async inOrder(msg: JsMsg): Promise<boolean> {
    const pin = msg.headers?.get(PIN_HEADER) ?? "";
    if (pin === "" || pin === this.lostPin) return false;
    if (pin !== this.pinId) {
      this.pinId = pin;
      this.lostPin = undefined;
      // What this process handled when it was active before proves nothing now: another may have replayed since.
      this.lastHandled = 0;
      await this.rewind();
      this.setState("active");
      this.emit("active", { pinId: pin });
      return false;
    }
    const delivery = msg.info.deliverySequence;
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

  private async rewind(): Promise<void> {
    this.awaitingReset = true;
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
  private async handle(msg: JsMsg): Promise<boolean> {
    const item = decodeStreamMessage(msg);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.handler(item);
        this.acknowledge(msg);
        return true;
      } catch (err) {
        const error = asError(err);
        if (attempt >= this.retry.attempts) {
          if (this.onFailure === "stop") {
            this.fail({ sequence: msg.seq, error });
            await recordMetadata(this.jsm, this.stream, this.consumer, (m) => ({ ...m, [META_FAILED]: String(msg.seq) }));
            return false;
          }
          await recordMetadata(this.jsm, this.stream, this.consumer, (m) => ({
            ...m,
            [META_SKIPPED]: [...skippedList(m), msg.seq].slice(-SKIPPED_KEPT).join(","),
          }));
          this.acknowledge(msg);
          this.emit("skipped", { sequence: msg.seq, error });
          return true;
        }
        const delayMs = backoffMs(this.retry, attempt);
        this.emit("retry", { sequence: msg.seq, attempt, delayMs, error });
        msg.working();
        await sleep(delayMs);
      }
    }
  }

  private acknowledge(msg: JsMsg): void {
    msg.ack();
    this.lastAcked = msg;
    this.lastHandled = msg.seq;
  }

  private fail(failure: ProjectionFailure): void {
    this.failure = failure;
    this.setState("failed");
    this.emit("failed", failure);
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
  pinTtlMs: number,
  batch: number,
): Promise<Partial<ConsumerConfig>> {
  const subjects = new Subjects(stream);
  return {
    durable_name: consumerName(name),
    ack_policy: AckPolicy.Explicit,
    filter_subject: options.actorType === undefined ? subjects.eventsWildcard : subjects.projectionFilter(options.actorType),
    ack_wait: nanos(options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS),
    metadata: { [META_MODE]: mode },
    ...(await startConfig(jsm, stream, options.from ?? "start")),
    ...(mode === "ordered"
      ? {
          // Room beyond what a client buffers: a dead active's unacknowledged events must leave
          // the server able to deliver, or no standby would ever be pinned before their ack wait.
          max_ack_pending: batch * 2,
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

/** The projection's consumer: the existing one when its mode and filter agree, else a new one. */
async function ensureConsumer(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig>): Promise<void> {
  const name = config.durable_name!;
  for (let attempt = 1; ; attempt++) {
    const existing = await consumerInfo(jsm, stream, name);
    if (existing) {
      const mode = existing.config.metadata?.[META_MODE];
      if (mode !== config.metadata![META_MODE] || existing.config.filter_subject !== config.filter_subject) {
        throw new ValidationError(
          `projection ${name.slice(CONSUMER_PREFIX.length)} exists as ${String(mode)} over ${String(existing.config.filter_subject)}; ` +
            "remove it (projections rm) to change its mode or filter",
        );
      }
      return;
    }
    try {
      await jsm.consumers.add(stream, config);
      return;
    } catch (err) {
      // Another process created it first (with its own start): read that one.
      if (attempt > 1 || !isConsumerExists(err)) throw err;
    }
  }
}

async function consumerInfo(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (err) {
    if (isConsumerNotFound(err)) return undefined;
    throw err;
  }
}

async function recordMetadata(
  jsm: JetStreamManager,
  stream: string,
  name: string,
  change: (metadata: Record<string, string>) => Record<string, string>,
): Promise<void> {
  const info = await jsm.consumers.info(stream, name);
  await jsm.consumers.update(stream, name, { metadata: change(info.config.metadata ?? {}) });
}

function counts(info: ConsumerInfo): { ackFloor: number; pending: number; redelivered: number } {
  return {
    ackFloor: info.ack_floor.stream_seq,
    pending: info.num_pending + info.num_ack_pending,
    redelivered: info.num_redelivered,
  };
}

function skippedList(metadata: Record<string, string>): number[] {
  const raw = metadata[META_SKIPPED];
  return raw ? raw.split(",").map(Number) : [];
}

function skippedOf(info: ConsumerInfo): number[] {
  return skippedList(info.config.metadata ?? {});
}

// nats-server >= 2.11 reports the pinned client per priority group; the library's type lacks it.
function pinnedClient(info: ConsumerInfo): string {
  const groups = (info as { priority_groups?: { group: string; pinned_client_id?: string }[] }).priority_groups;
  return groups?.find((g) => g.group === GROUP)?.pinned_client_id ?? "";
}

function describe(info: ConsumerInfo): ProjectionInfo {
  const metadata = info.config.metadata ?? {};
  const failed = metadata[META_FAILED];
  return {
    name: info.name.slice(CONSUMER_PREFIX.length),
    mode: (metadata[META_MODE] as ProjectionMode | undefined) ?? "shared",
    filter: info.config.filter_subject ?? info.config.filter_subjects?.join(",") ?? "",
    ...counts(info),
    active: pinnedClient(info),
    ...(failed ? { failed: Number(failed) } : {}),
    skipped: skippedList(metadata),
  };
}

/** Every projection of the stream, by name. */
export async function listProjections(nc: NatsConnection, stream: string): Promise<ProjectionInfo[]> {
  const jsm = await manager(nc);
  const found: ProjectionInfo[] = [];
  for await (const info of jsm.consumers.list(stream)) {
    if (info.name.startsWith(CONSUMER_PREFIX) && info.config.metadata?.[META_MODE]) found.push(describe(info));
  }
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Moves the projection's position: the next event handled is the first at or after the target.
 * Its running processes pick it up without a restart (JetStream rewinds their delivery). A reset
 * never goes below the projection's start (the `from` it was created with). Returns the sequence.
 */
export async function resetProjection(nc: NatsConnection, stream: string, name: string, to: ProjectionResetTo): Promise<number> {
  const jsm = await manager(nc);
  const consumer = consumerName(name);
  const info = await consumerInfo(jsm, stream, consumer);
  if (!info) throw new NotFoundError(`no projection ${JSON.stringify(name)} on stream ${stream}`);
  const seq = await resetTarget(jsm, stream, info, to);
  // A failure recorded before the reset is history: the replay decides again.
  await recordMetadata(jsm, stream, consumer, ({ [META_FAILED]: _, ...rest }) => rest);
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

/** Deletes the projection's consumer, its position with it; its running processes stop. False when there was none. */
export async function removeProjection(nc: NatsConnection, stream: string, name: string): Promise<boolean> {
  const jsm = await manager(nc);
  try {
    return await jsm.consumers.delete(stream, consumerName(name));
  } catch (err) {
    if (isConsumerNotFound(err)) return false;
    throw err;
  }
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
