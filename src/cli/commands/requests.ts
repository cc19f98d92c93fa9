import type { EventStoreClient } from "../../client/client.js";
import type { EndpointName, FlagSpec, RequestOf } from "../../contract/endpoints.js";
import type { QueryItem, ReadRequest } from "../../contract/types.js";
import { type Flags, integerFlag, positionals } from "../args.js";
import type { Command, Runner } from "../context.js";
import { argumentNames, commandName, ENDPOINT_COMMANDS, type EndpointCommand } from "../endpoint-commands.js";
import { jsonArgument } from "../json-input.js";
import { UsageError } from "../usage.js";

// The commands that are one endpoint request each (events: one per page), as the endpoint table
// offers them. Commands of several words ("snapshot get", "snapshot save") are one command whose
// first argument names the action.

/** Every endpoint command, by its first word. */
export function endpointCommands(): Record<string, Command> {
  const groups = new Map<string, Map<string, EndpointCommand>>();
  for (const command of ENDPOINT_COMMANDS) {
    const name = commandName(command.spec);
    const action = command.spec.words.slice(name.length + 1);
    groups.set(name, (groups.get(name) ?? new Map<string, EndpointCommand>()).set(action, command));
  }
  return Object.fromEntries([...groups].map(([name, actions]) => [name, groupCommand(name, actions)]));
}

function groupCommand(name: string, actions: Map<string, EndpointCommand>): Command {
  const single = actions.get("");
  if (single) return (args, flags) => requestRunner(single, args, flags);
  const names = [...actions.keys()].sort();
  const specs = names.map((n) => argumentNames(actions.get(n)!.spec));
  const widest = Math.max(...specs.map((s) => s.length));
  // One positional list for the whole command, so that a wrong count is one usage message.
  const joined = Array.from({ length: widest }, (_, i) => [...new Set(specs.flatMap((s) => s[i] ?? []))].join("|"));
  const optional = widest - Math.min(...specs.map((s) => s.length));
  return (args, flags) => {
    const [action, ...rest] = positionals(args, [names.join("|"), ...joined], optional);
    const command = actions.get(action!);
    if (!command) throw new UsageError(`${name} takes ${names.slice(0, -1).join(", ")} or ${names.at(-1)}, got "${action}"`);
    return requestRunner(command, rest, flags);
  };
}

/** Checks the arguments now (a usage error needs no server); sends the request when run. */
function requestRunner({ endpoint, spec }: EndpointCommand, args: string[], flags: Flags): Runner {
  const values = positionals(args, argumentNames(spec));
  const fields: Record<string, unknown> = {};
  if ("fields" in spec.input) {
    for (const [i, field] of spec.input.fields.entries()) fields[field] = values[i];
  }
  Object.assign(fields, flagFields(spec.flags ?? {}, flags));
  return async ({ client, stdin, out }) => {
    // A JSON argument is read only now: it may be stdin.
    const request = "json" in spec.input ? await jsonArgument(values[0]!, stdin, spec.input.json) : fields;
    if (spec.output === "events") {
      const { actorId, fromVersion } = request as { actorId: string; fromVersion?: number };
      for await (const event of client.events(actorId, { fromVersion })) await out.event(event);
      return;
    }
    if (spec.output === "log") {
      // The command's limit is of the whole output: the client asks for pages of what is still wanted.
      const { query, ...options } = request as ReadRequest;
      for await (const entry of client.read(query, options)) await out.positioned(entry);
      return;
    }
    await out.value(await send(client, endpoint, request));
  };
}

/** The request fields the given flags fill, as the table says (FlagSpec). */
function flagFields(specs: Readonly<Record<string, FlagSpec>>, flags: Flags): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  const item: QueryItem = {};
  for (const [flag, spec] of Object.entries(specs)) {
    const name = flag as keyof Flags;
    const value = flags[name];
    if (value === undefined) continue;
    if (spec.kind === "integer") fields[spec.field] = integerFlag(flags, name, 0, spec.min);
    else if (spec.kind === "boolean") fields[spec.field] = true;
    else item[spec.field] = value as [string, ...string[]];
  }
  if (Object.keys(item).length > 0) fields.query = { items: [item] };
  return fields;
}

/** The request as the command line gives it: the service, not the CLI, validates it. */
function send<E extends EndpointName>(client: EventStoreClient, endpoint: E, request: Record<string, unknown>) {
  return client.request(endpoint, request as RequestOf<E>);
}
