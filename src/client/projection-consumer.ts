import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/transport-node";
import { ValidationError } from "../contract/errors.js";
import { isConsumerExists, isConsumerNotFound } from "../contract/nats-failures.js";
import { PROJECTION_CONSUMER_PREFIX as CONSUMER_PREFIX, PROJECTION_NAME as NAME, projectionLag } from "../contract/projections.js";
import { Subjects } from "../contract/subjects.js";
import type { ProjectionInfo, ProjectionMode, ProjectionStart, ProjectOptions } from "./projection-types.js";

// A projection's durable consumer: its name, configuration, creation and what its info says.

/** A projection's settings as its consumer has them. */
export interface Settings {
  pinTtlMs: number;
  ackWaitMs: number;
  batch: number;
}

export const DEFAULT_PIN_TTL_MS = 30_000;
const DEFAULT_ACK_WAIT_MS = 30_000;
const DEFAULT_BATCH = 256;
// The priority group every process of an ordered projection pulls in (at most 16 characters).
export const GROUP = "projection";
// Consumer metadata: what `ls` shows beside JetStream's own counts.
export const META_MODE = "eventstore_mode";
export const META_FAILED = "eventstore_failed";

// No $JS.API.INFO round trip first: the calls that follow report a missing JetStream themselves,
// and a projector's permissions need not include it.
export function manager(nc: NatsConnection): Promise<JetStreamManager> {
  return jetstreamManager(nc, { checkAPI: false });
}

export function consumerName(name: string): string {
  if (!NAME.test(name)) throw new ValidationError(`projection name must match ${NAME.source}, got ${JSON.stringify(name)}`);
  return CONSUMER_PREFIX + name;
}

export async function consumerConfig(
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

export async function startConfig(jsm: JetStreamManager, stream: string, from: ProjectionStart): Promise<Partial<ConsumerConfig>> {
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
export async function ensureConsumer(
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
export function settingsOf(info: ConsumerInfo | undefined, asked: ProjectOptions): Settings {
  const ms = (ns: number | undefined) => (ns === undefined ? undefined : Math.round(ns / 1e6));
  const config = info?.config as (ConsumerConfig & { priority_timeout?: number }) | undefined;
  return {
    pinTtlMs: ms(config?.priority_timeout) ?? asked.pinTtlMs ?? DEFAULT_PIN_TTL_MS,
    ackWaitMs: ms(config?.ack_wait) ?? asked.ackWaitMs ?? DEFAULT_ACK_WAIT_MS,
    // The consumer's max_ack_pending is twice it.
    batch: (config?.max_ack_pending ? config.max_ack_pending / 2 : undefined) ?? asked.batch ?? DEFAULT_BATCH,
  };
}

export async function consumerInfo(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (err) {
    if (isConsumerNotFound(err)) return undefined;
    throw err;
  }
}

/** Records on the consumer the event the projection stopped on (`ls` shows it; a reset clears it). */
export async function recordFailed(jsm: JetStreamManager, stream: string, name: string, sequence: number): Promise<void> {
  const info = await jsm.consumers.info(stream, name);
  await jsm.consumers.update(stream, name, { metadata: { ...info.config.metadata, [META_FAILED]: String(sequence) } });
}

export function counts(info: ConsumerInfo): { ackFloor: number; pending: number; redelivered: number } {
  return {
    ackFloor: info.ack_floor.stream_seq,
    pending: projectionLag(info),
    redelivered: info.num_redelivered,
  };
}

// nats-server >= 2.11 reports the pinned client per priority group; the library's type lacks it.
export function pinnedClient(info: ConsumerInfo): string {
  const groups = (info as { priority_groups?: { group: string; pinned_client_id?: string }[] }).priority_groups;
  return groups?.find((g) => g.group === GROUP)?.pinned_client_id ?? "";
}

export function describe(info: ConsumerInfo, skipped: number[]): ProjectionInfo {
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

export function checkSequence(seq: number): number {
  if (!(Number.isSafeInteger(seq) && seq >= 1)) throw new ValidationError(`a stream sequence must be an integer >= 1, got ${seq}`);
  return seq;
}

export function checkTime(time: Date | string): Date {
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) throw new ValidationError(`not a time: ${JSON.stringify(String(time))}`);
  return date;
}
