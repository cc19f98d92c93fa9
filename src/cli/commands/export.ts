import { once } from "node:events";
import { createWriteStream, type WriteStream } from "node:fs";
import { type JetStreamManager, jetstreamManager, type MsgRequest } from "@nats-io/jetstream";
import { filterSubject, type SubscribeOptions } from "../../client/subscribe.js";
import { Subjects } from "../../contract/subjects.js";
import { positionals } from "../args.js";
import type { Command } from "../context.js";
import { Output } from "../output.js";
import { Progress } from "../progress.js";
import { plural } from "../report.js";

// How long the export waits for its next message before it asks the stream whether any is left up
// to its end.
const IDLE_MS = 1000;

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
    let next = 1;
    // Messages deleted after the export began never arrive: when none has come for a while and the
    // stream holds none of the filter up to the end, the export is complete.
    let idle = false;
    const watchdog = setInterval(() => {
      if (!idle) {
        idle = true;
        return;
      }
      void nothingLeft(jsm, stream, filter, next, end).then(async (done) => {
        if (done) await sub.stop();
      });
    }, IDLE_MS);
    try {
      if (end > 0) {
        for await (const { sequence, json } of sub) {
          idle = false;
          if (sequence > end) break;
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
          if (next > end) break;
        }
      }
    } finally {
      clearInterval(watchdog);
      await sub.stop();
      if (target !== out) await target.close();
    }
    progress.finish();
    const skipped = tombstones > 0 ? `, skipped ${plural(tombstones, "tombstone")} of erased actors` : "";
    stderr.write(`exported ${plural(events, "event")}${flags.out !== undefined ? ` to ${flags.out}` : ""}${skipped}\n`);
  };
};

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
