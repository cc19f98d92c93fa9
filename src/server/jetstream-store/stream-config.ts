import { DiscardPolicy, type JetStreamManager, RetentionPolicy, StorageType, type StreamConfig, type StreamInfo } from "@nats-io/jetstream";
import { isStreamNotFound } from "../../contract/nats-failures.js";
import type { Subjects } from "../../contract/subjects.js";
import type { Logger } from "../logger.js";

export class StreamConfigError extends Error {
  override readonly name = "StreamConfigError";
}

export interface StreamSettings {
  subjects: Subjects;
  replicas: number;
  snapshotsKeep: number;
  /** The server can do atomic batch publish (>= 2.12). */
  atomicBatch: boolean;
  /**
   * The largest message the service may store (an event or snapshot as accepted): an existing
   * stream's max_msg_size must take it. Unset: the store's own tests, which make no such promise.
   */
  maxMessageBytes?: number;
  /**
   * An operator's explicit yes (EVENTSTORE_RECONFIGURE=1) to changes that lose durability or data
   * other replicas rely on: fewer replicas, a lower snapshot bound. Unset: no.
   */
  reconfigure?: boolean;
}

/** A stream configuration as the JetStream API takes it: the name, and any settings. */
export type NamedStreamConfig = Partial<StreamConfig> & { name: string };

/** What both streams share: file storage, limits retention, no age, count or size limit, direct gets. */
function durableStream(name: string, subjects: string[], replicas: number): NamedStreamConfig {
  return {
    name,
    subjects,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: replicas,
    max_age: 0,
    max_msgs: -1,
    max_bytes: -1,
    max_msgs_per_subject: -1,
    allow_direct: true,
  };
}

/** The events stream (events, tag links, guards): nothing is ever dropped on its own. */
export function eventsStreamConfig(s: StreamSettings): NamedStreamConfig {
  return {
    ...durableStream(s.subjects.stream, s.subjects.eventsStreamSubjects(), s.replicas),
    ...(s.atomicBatch ? { allow_atomic: true } : {}),
  };
}

/** Snapshots: a stream of their own, so that only they are bounded per actor. */
export function snapshotsStreamConfig(s: StreamSettings): NamedStreamConfig {
  return {
    ...durableStream(s.subjects.snapshotsStream, [s.subjects.snapshotsWildcard], s.replicas),
    max_msgs_per_subject: s.snapshotsKeep,
  };
}

/**
 * Creates both streams, or brings an existing one to the settings we may change. Raising replicas
 * or the snapshot bound, turning on direct gets or atomic batches, and adding the v3 subjects (tag
 * links and guards) to a v2 events stream, lose nothing. Fewer
 * replicas or a lower bound would lose durability or snapshots other replicas count on: only with
 * `reconfigure`. Anything else that differs is an operator's decision we must not undo silently:
 * it stops the start with a message saying what differs.
 */
export async function ensureStreams(jsm: JetStreamManager, s: StreamSettings, log: Logger): Promise<void> {
  await ensureStream(jsm, eventsStreamConfig(s), s, log, true);
  await ensureStream(jsm, snapshotsStreamConfig(s), s, log, false);
}

async function ensureStream(
  jsm: JetStreamManager,
  want: NamedStreamConfig,
  s: StreamSettings,
  log: Logger,
  keepsEverything: boolean,
): Promise<void> {
  const name = want.name;
  let info: StreamInfo | undefined;
  try {
    info = await jsm.streams.info(name);
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
  }
  if (!info) {
    await jsm.streams.add(want);
    log.info({ stream: name, replicas: want.num_replicas }, "stream created");
    return;
  }
  const have = info.config;
  const problems = contractProblems(have, want, s, keepsEverything);
  if (problems.length > 0) {
    throw new StreamConfigError(
      `stream ${name} exists with settings eventstore will not change: ${problems.join("; ")}. ` +
        `Fix the stream or point EVENTSTORE_STREAM at another one.`,
    );
  }
  const changes: Partial<StreamConfig> = {};
  const losses: string[] = [];
  if (!sameSubjects(have.subjects, want.subjects!)) changes.subjects = want.subjects;
  if (have.num_replicas !== want.num_replicas) {
    changes.num_replicas = want.num_replicas;
    if (want.num_replicas! < have.num_replicas)
      losses.push(`replicas from ${have.num_replicas} to ${want.num_replicas} (EVENTSTORE_REPLICAS)`);
  }
  if (!have.allow_direct) changes.allow_direct = true;
  if (want.allow_atomic && !have.allow_atomic) changes.allow_atomic = true;
  if (want.max_msgs_per_subject !== undefined && have.max_msgs_per_subject !== want.max_msgs_per_subject) {
    changes.max_msgs_per_subject = want.max_msgs_per_subject;
    if (have.max_msgs_per_subject <= 0 || want.max_msgs_per_subject < have.max_msgs_per_subject) {
      losses.push(
        `snapshots kept per actor from ${have.max_msgs_per_subject <= 0 ? "unlimited" : have.max_msgs_per_subject} ` +
          `to ${want.max_msgs_per_subject} (EVENTSTORE_SNAPSHOTS_KEEP)`,
      );
    }
  }
  if (losses.length > 0 && !s.reconfigure) {
    throw new StreamConfigError(
      `stream ${name} would lose durability or data other replicas rely on: ${losses.join("; ")}. ` +
        `Start with the stream's settings, or set EVENTSTORE_RECONFIGURE=1 to change the stream on purpose.`,
    );
  }
  if (Object.keys(changes).length > 0) {
    await jsm.streams.update(name, { ...have, ...changes });
    log[losses.length > 0 ? "warn" : "info"]({ stream: name, changes, ...(losses.length > 0 ? { losses } : {}) }, "stream updated");
  }
}

/** What in an existing stream's configuration would break a promise of the contract; empty when nothing does. */
function contractProblems(have: StreamConfig, want: NamedStreamConfig, s: StreamSettings, keepsEverything: boolean): string[] {
  const problems: string[] = [];
  const wanted = want.subjects!;
  // A v2 events stream has only the first of the v3 subjects (events): the others are added (see ensureStream).
  const v2 = sameSubjects(have.subjects, wanted.slice(0, 1));
  if (!v2 && !sameSubjects(have.subjects, wanted)) {
    problems.push(`subjects are ${JSON.stringify(have.subjects)}, expected ${JSON.stringify(wanted)}`);
  }
  if (have.storage !== want.storage) problems.push(`storage is ${have.storage}, expected ${want.storage}`);
  if (have.retention !== want.retention) problems.push(`retention is ${have.retention}, expected ${want.retention}`);
  // Limits are for the snapshots stream too: a stream-wide one would evict other actors' newest snapshot.
  if (have.max_age > 0) problems.push(`max_age is ${have.max_age}ns: messages would expire`);
  if (have.max_msgs > 0) problems.push(`max_msgs is ${have.max_msgs}: messages would be dropped`);
  if (have.max_bytes > 0) problems.push(`max_bytes is ${have.max_bytes}: messages would be dropped`);
  if (keepsEverything && have.max_msgs_per_subject > 0) {
    problems.push(`max_msgs_per_subject is ${have.max_msgs_per_subject}: events would be dropped`);
  }
  // Discard new refuses a write at a limit (the snapshot bound) instead of dropping the oldest.
  if (have.discard !== DiscardPolicy.Old) problems.push(`discard is ${have.discard}, expected ${DiscardPolicy.Old}`);
  if (have.discard_new_per_subject) problems.push("discard_new_per_subject is set: saves at the bound would be refused");
  if (have.no_ack) problems.push("no_ack is set: no save would ever be acknowledged");
  if (s.maxMessageBytes !== undefined && have.max_msg_size > 0 && have.max_msg_size < s.maxMessageBytes) {
    problems.push(
      `max_msg_size is ${have.max_msg_size}: requests the service accepts (up to ${s.maxMessageBytes} bytes) would be refused; ` +
        `remove the limit or lower EVENTSTORE_MAX_REQUEST_BYTES below it`,
    );
  }
  // The contract's erase deletes an actor's events and snapshots.
  if (have.deny_delete) problems.push("deny_delete is set: erasing an actor needs message deletes");
  if (have.sealed) problems.push("the stream is sealed: it takes no writes");
  if (have.mirror) problems.push("the stream is a mirror: it takes no writes");
  return problems;
}

function sameSubjects(have: readonly string[], want: readonly string[]): boolean {
  return have.length === want.length && have.every((x) => want.includes(x));
}
