import type { SubscribeOptions } from "../../client/subscribe.js";
import { integerFlag, positionals } from "../args.js";
import type { Command } from "../context.js";
import { UsageError } from "../usage.js";

/** Follows events as they are stored, until SIGINT or SIGTERM. */
export const tail: Command = (args, flags) => {
  const [actorType] = positionals(args, ["actorType"], 1);
  if (actorType !== undefined && flags.actor !== undefined) throw new UsageError("give an actorType or --actor, not both");
  if (flags.all && flags["from-seq"] !== undefined) throw new UsageError("give --all or --from-seq, not both");
  const start: SubscribeOptions = flags.all
    ? {}
    : flags["from-seq"] !== undefined
      ? { fromSequence: integerFlag(flags, "from-seq", 1, 1) }
      : { onlyNew: true };
  const what = flags.actor !== undefined ? `actor ${flags.actor}` : actorType !== undefined ? `actor type ${actorType}` : "all actors";

  return async ({ client, out, stderr }) => {
    const sub = await client.subscribe({
      actorType,
      actorId: flags.actor,
      ...start,
      followNewStream: flags["follow-new-stream"] === true,
      onStreamChange: (change) =>
        stderr.write(
          change.kind === "missing"
            ? `stream ${change.stream} is missing; waiting for it to be created again\n`
            : `stream ${change.stream} is a new stream (created ${change.created}): following it from sequence 1\n`,
        ),
    });
    const stop = () => void sub.stop();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    try {
      stderr.write(`following the events of ${what} in stream ${await client.streamName()} (Ctrl-C to stop)\n`);
      for await (const { sequence, event, erased } of sub) {
        if (event) await out.event(event, sequence);
        else await out.erased(erased, sequence);
      }
    } finally {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      await sub.stop();
    }
  };
};
