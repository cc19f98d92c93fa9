import { NotFoundError } from "../../errors.js";
import type { SaveRequest, SnapshotSaveRequest } from "../../schemas/types.js";
import { integerFlag, positionals } from "../args.js";
import type { Command } from "../context.js";
import { jsonArgument } from "../json-input.js";
import { UsageError } from "../usage.js";

// The commands that are one endpoint request each (events: one per page).

export const save: Command = (args) => {
  const [json] = positionals(args, ["event-json|-"]);
  return async ({ client, stdin, out }) => {
    const event = (await jsonArgument(json!, stdin, "event")) as unknown as SaveRequest;
    await out.value(await client.save(event));
  };
};

export const events: Command = (args, flags) => {
  const [actorId] = positionals(args, ["actorId"]);
  const fromVersion = integerFlag(flags, "from", 0);
  return async ({ client, out }) => {
    for await (const event of client.events(actorId!, { fromVersion })) await out.event(event);
  };
};

export const version: Command = (args) => {
  const [actorId] = positionals(args, ["actorId"]);
  return async ({ client, out }) => {
    await out.value({ actorId, version: await client.version(actorId!) });
  };
};

export const snapshot: Command = (args) => {
  const [action, arg] = positionals(args, ["get|save", "actorId|snapshot-json|-"]);
  if (action === "get") {
    return async ({ client, out }) => {
      const found = await client.getSnapshot(arg!);
      if (!found) throw new NotFoundError(`no snapshot for actor ${JSON.stringify(arg)}`);
      await out.value(found);
    };
  }
  if (action === "save") {
    return async ({ client, stdin, out }) => {
      const snap = (await jsonArgument(arg!, stdin, "snapshot")) as unknown as SnapshotSaveRequest;
      await out.value(await client.saveSnapshot(snap));
    };
  }
  throw new UsageError(`snapshot takes get or save, got "${action}"`);
};
