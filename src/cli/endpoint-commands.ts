import { type CommandSpec, ENDPOINT_NAMES, ENDPOINTS, type EndpointName, type FlagSpec } from "../contract/endpoints.js";

// The commands the endpoint table offers, as the argument parser and the usage text need them.
// Apart from commands/requests.ts, which runs them, so that neither depends on the other.

export interface EndpointCommand {
  readonly endpoint: EndpointName;
  readonly spec: CommandSpec;
}

export const ENDPOINT_COMMANDS: readonly EndpointCommand[] = ENDPOINT_NAMES.flatMap((endpoint) => {
  const spec = ENDPOINTS[endpoint].command;
  return spec ? [{ endpoint, spec }] : [];
});

/** The command's first word: "snapshot" for "snapshot get". */
export function commandName(spec: CommandSpec): string {
  return spec.words.split(" ")[0]!;
}

/** What the command's arguments are called in messages and the usage text. */
export function argumentNames(spec: CommandSpec): string[] {
  return "json" in spec.input ? [`${spec.input.json}-json|-`] : [...spec.input.fields];
}

/** The usage text's line for each command: in the table's order, the actions of one command by name. */
export function endpointUsage(): [string, string][] {
  const lines = ENDPOINT_COMMANDS.map(({ spec }): [string, string] => {
    const args = argumentNames(spec).map((n) => `<${n}>`);
    const flags = Object.entries(spec.flags ?? {}).map(([name, flag]) => flagUsage(name, flag));
    return [[spec.words, ...args, ...flags].join(" "), spec.summary];
  });
  const group = (line: string) => ENDPOINT_COMMANDS.findIndex(({ spec }) => commandName(spec) === line.split(" ")[0]);
  return lines.sort(([a], [b]) => group(a) - group(b) || a.localeCompare(b));
}

function flagUsage(name: string, flag: FlagSpec): string {
  switch (flag.kind) {
    case "integer":
      return `[--${name} N]`;
    case "boolean":
      return `[--${name}]`;
    case "queryItem":
      return `[--${name} ${name.toUpperCase()}]...`;
  }
}

/** The flags each command takes, by its first word. */
export function endpointFlags(): Record<string, string[]> {
  const flags: Record<string, string[]> = {};
  for (const { spec } of ENDPOINT_COMMANDS) {
    const name = commandName(spec);
    flags[name] = [...(flags[name] ?? []), ...Object.keys(spec.flags ?? {})];
  }
  return flags;
}
