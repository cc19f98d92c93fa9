import { once } from "node:events";
import { createWriteStream, type WriteStream } from "node:fs";
import { type JetStreamManager, jetstreamManager, type MsgRequest } from "@nats-io/jetstream";
import { filterSubject, type StreamEvent, type SubscribeOptions } from "../../client/subscribe.js";
import { Subjects } from "../../subjects.js";
import { positionals } from "../args.js";
import type { Command } from "../context.js";
import { Output } from "../output.js";
import { Progress } from "../progress.js";
import { plural } from "../report.js";

// How long the export waits for its next message before it asks the stream whether any is left up
// to its end: messages deleted while it runs (an erase, an operator's purge) never arrive.
const IDLE_MS = 1000;
const IDLE = Symbol("idle");

/**
 * Every stored event (of an actor type, or all), in stream order, as NDJSON: read straight from the
 * stream by an ordered consumer, up to what was stored when the export began. That end is a stream
 * sequence, taken first: events stored later are not exported, and events deleted meanwhile (an
 * actor erased during the export) are not waited for.
 */
export const exportEvents: Command = (args, flags) => {
  const [actorType] = positionals(args, ["actorType"], 1);
  return async ({ client, nc, out, stderr }) => {
    // Opened before the stream is read, so that a path that cannot be written fails at once, cleanly.
    const target = flags.out !== undefined ? new Output(await openFile(flags.out), true) : out;
    const options: SubscribeOptions = actorType !== undefined ? { actorType } : {};
    const stream = await client.streamName();
    const filter = filterSubject(new Subjects(stream), options);
    const jsm = await jetstreamManager(nc);
    const end = (await jsm.streams.getMessage(stream, { last_by_subj: filter }))?.seq ?? 0;
    const sub = await client.subscribe(options);
    const progress = new Progress(stderr, "export", sub.backlog);
    let events = 0;
    let tombstones = 0;
    let pending: Promise<IteratorResult<StreamEvent>> | undefined;
    try {
      const messages = sub[Symbol.asyncIterator]();
      let next = 1;
      while (next <= end) {
        pending ??= messages.next();
        const read = await within(pending, IDLE_MS);
        if (read === IDLE) {
          if (await nothingLeft(jsm, stream, filter, next, end)) break;
          continue;
        }
        pending = undefined;
        if (read.done || read.value.sequence > end) break;
        const { sequence, json } = read.value;
        next = sequence + 1;
        // A tombstone is no event to import again: the export holds what is stored of live actors.
        // An event is written as stored, byte for byte, so that import stores the very same bytes.
        if (json !== undefined) {
          await target.line(json);
          events++;
        } else {
          tombstones++;
        }
        progress.tick();
      }
    } finally {
      await sub.stop();
      // Ended by stop(): what it answers now is nobody's.
      pending?.catch(() => undefined);
      if (target !== out) await target.close();
    }
    progress.finish();
    const skipped = tombstones > 0 ? `, skipped ${plural(tombstones, "tombstone")} of erased actors` : "";
    stderr.write(`exported ${plural(events, "event")}${flags.out !== undefined ? ` to ${flags.out}` : ""}${skipped}\n`);
  };
};

/** The promise's value, or IDLE when it has none within ms. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof IDLE> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<typeof IDLE>((resolve) => (timer = setTimeout(resolve, ms, IDLE)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether the stream holds no message of the filter from sequence `from` to `end`: asked of the
 * stream itself (its leader), not of a copy. A failed look knows nothing: the export waits on.
 */
async function nothingLeft(jsm: JetStreamManager, stream: string, filter: string, from: number, end: number): Promise<boolean> {
  try {
    // The stream's own get (not a direct get, which any copy may answer) takes next_by_subj too;
    // nats.js types it for direct gets only.
    const next = await jsm.streams.getMessage(stream, { seq: from, next_by_subj: filter } as MsgRequest);
    return next === null || next.seq > end;
  } catch {
    return false;
  }
}

async function openFile(path: string): Promise<WriteStream> {
  const file = createWriteStream(path);
  try {
    await once(file, "open");
  } catch (err) {
    throw new Error(`cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return file;
}
