import { once } from "node:events";
import { createWriteStream, type WriteStream } from "node:fs";
import { positionals } from "../args.js";
import type { Command } from "../context.js";
import { Output } from "../output.js";
import { Progress } from "../progress.js";
import { plural } from "../report.js";

/**
 * Every stored event (of an actor type, or all), in stream order, as NDJSON: read straight from the
 * stream by an ordered consumer, up to what was stored when the export began.
 */
export const exportEvents: Command = (args, flags) => {
  const [actorType] = positionals(args, ["actorType"], 1);
  return async ({ client, out, stderr }) => {
    // Opened before the stream is read, so that a path that cannot be written fails at once, cleanly.
    const target = flags.out !== undefined ? new Output(await openFile(flags.out), true) : out;
    const sub = await client.subscribe(actorType !== undefined ? { actorType } : {});
    const progress = new Progress(stderr, "export", sub.backlog);
    let count = 0;
    try {
      if (sub.backlog > 0) {
        for await (const { json } of sub) {
          // A tombstone is no event to import again: the export holds what is stored of live actors.
          // An event is written as stored, byte for byte, so that import stores the very same bytes.
          if (json !== undefined) await target.line(json);
          progress.tick();
          if (++count === sub.backlog) break;
        }
      }
    } finally {
      await sub.stop();
      if (target !== out) await target.close();
    }
    progress.finish();
    stderr.write(`exported ${plural(count, "event")}${flags.out !== undefined ? ` to ${flags.out}` : ""}\n`);
  };
};

async function openFile(path: string): Promise<WriteStream> {
  const file = createWriteStream(path);
  try {
    await once(file, "open");
  } catch (err) {
    throw new Error(`cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return file;
}
