import { type ConsumerInfo, DeliverPolicy, type JetStreamManager, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { NotFoundError } from "../contract/errors.js";
import { isConsumerNotFound } from "../contract/nats-failures.js";
import { PROJECTION_CONSUMER_PREFIX as CONSUMER_PREFIX } from "../contract/projections.js";
import { checkSequence, checkTime, consumerInfo, consumerName, describe, META_FAILED, META_MODE, manager } from "./projection-consumer.js";
import { ProjectionLog } from "./projection-log.js";
import type { ProjectionInfo, ProjectionResetTo } from "./projection-types.js";

// What `nats-eventstore projections` does: list, reset and remove projections.

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
