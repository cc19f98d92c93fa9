import { createInterface } from "node:readline/promises";
import { positionals } from "../args.js";
import type { Command } from "../context.js";
import { UsageError } from "../usage.js";

/**
 * Erases an actor for good. On a terminal it asks first, naming the actor, unless --yes; without a
 * terminal (a script) it needs --yes, so that nothing is erased by a command run by mistake.
 */
export const erase: Command = (args, flags) => {
  const [actorId] = positionals(args, ["actorId"]);
  const reason = flags.reason;
  return async ({ client, out, stdin, stderr }) => {
    if (flags.yes !== true) {
      if (!stdin.isTTY) throw new UsageError("erase needs --yes when it cannot ask on a terminal");
      const rl = createInterface({ input: stdin, output: stderr });
      const answer = await rl.question(
        `Erase ${JSON.stringify(actorId)} for good: every event and snapshot? Type the actor id to confirm: `,
      );
      rl.close();
      if (answer.trim() !== actorId) {
        stderr.write("not erased\n");
        return;
      }
    }
    await out.value(await client.erase(actorId!, reason === undefined ? {} : { reason }));
  };
};
