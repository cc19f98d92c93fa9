import {
  DiscardPolicy,
  type JetStreamManager,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { JsErrorCode } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Subjects } from "../subjects.js";

export class StreamConfigError extends Error {
  override readonly name = "StreamConfigError";
}

export interface StreamSettings {
  subjects: Subjects;
  replicas: number;
  snapshotsKeep: number;
  /** The server can do atomic batch publish (>= 2.12). */
  atomicBatch: boolean;
}

/** A stream configuration as the JetStream API takes it: the name, and any settings. */
export type NamedStreamConfig = Partial<StreamConfig> & { name: string };

/** What both streams share: file storage, limits retention, no age, count or size limit, direct gets. */
function durableStream(name: string, subject: string, replicas: number): NamedStreamConfig {
  return {
    name,
    subjects: [subject],
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

/** The events stream: nothing is ever dropped on its own. */
export function eventsStreamConfig(s: StreamSettings): NamedStreamConfig {
  return {
    ...durableStream(s.subjects.stream, s.subjects.eventsWildcard, s.replicas),
    ...(s.atomicBatch ? { allow_atomic: true } : {}),
  };
}

/** Snapshots: a stream of their own, so that only they are bounded per actor. */
export function snapshotsStreamConfig(s: StreamSettings): NamedStreamConfig {
  return {
    ...durableStream(s.subjects.snapshotsStream, s.subjects.snapshotsWildcard, s.replicas),
    max_msgs_per_subject: s.snapshotsKeep,
  };
}

/**
 * Creates both streams, or brings an existing one to the settings we may change (replicas,
 * direct gets, atomic batches, snapshot bound). Anything else that differs is an operator's
 * decision we must not undo silently: it stops the start with a message saying what differs.
 */
export async function ensureStreams(jsm: JetStreamManager, s: StreamSettings, log: Logger): Promise<void> {
  await ensureStream(jsm, eventsStreamConfig(s), log, true);
  await ensureStream(jsm, snapshotsStreamConfig(s), log, false);
}

async function ensureStream(
  jsm: JetStreamManager,
  want: NamedStreamConfig,
  log: Logger,
  keepsEverything: boolean,
): Promise<void> {
  const name = want.name;
  let info: StreamInfo | undefined;
  try {
    info = await jsm.streams.info(name);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JsErrorCode.StreamNotFound)) throw err;
  }
  if (!info) {
    await jsm.streams.add(want);
    log.info({ stream: name, replicas: want.num_replicas }, "stream created");
    return;
  }
  const have = info.config;
  const problems: string[] = [];
  const sameSubjects =
    have.subjects.length === want.subjects!.length && have.subjects.every((s) => want.subjects!.includes(s));
  if (!sameSubjects) problems.push(`subjects are ${JSON.stringify(have.subjects)}, expected ${JSON.stringify(want.subjects)}`);
  if (have.storage !== want.storage) problems.push(`storage is ${have.storage}, expected ${want.storage}`);
  if (have.retention !== want.retention) problems.push(`retention is ${have.retention}, expected ${want.retention}`);
  if (keepsEverything) {
    if (have.max_age > 0) problems.push(`max_age is ${have.max_age}ns: events would expire`);
    if (have.max_msgs > 0) problems.push(`max_msgs is ${have.max_msgs}: events would be dropped`);
    if (have.max_bytes > 0) problems.push(`max_bytes is ${have.max_bytes}: events would be dropped`);
    if (have.max_msgs_per_subject > 0) {
      problems.push(`max_msgs_per_subject is ${have.max_msgs_per_subject}: events would be dropped`);
    }
  }
  if (problems.length > 0) {
    throw new StreamConfigError(
      `stream ${name} exists with settings eventstore will not change: ${problems.join("; ")}. ` +
        `Fix the stream or point EVENTSTORE_STREAM at another one.`,
    );
  }
  const changes: Partial<StreamConfig> = {};
  if (have.num_replicas !== want.num_replicas) changes.num_replicas = want.num_replicas;
  if (!have.allow_direct) changes.allow_direct = true;
  if (want.allow_atomic && !have.allow_atomic) changes.allow_atomic = true;
  if (want.max_msgs_per_subject !== undefined && have.max_msgs_per_subject !== want.max_msgs_per_subject) {
    changes.max_msgs_per_subject = want.max_msgs_per_subject;
  }
  if (Object.keys(changes).length > 0) {
    await jsm.streams.update(name, { ...have, ...changes });
    log.info({ stream: name, changes }, "stream updated");
  }
}
