import { parseArgs } from "node:util";
import { endpointFlags } from "./endpoint-commands.js";
import { UsageError } from "./usage.js";

const OPTIONS = {
  server: { type: "string", short: "s" },
  creds: { type: "string" },
  user: { type: "string" },
  password: { type: "string" },
  token: { type: "string" },
  stream: { type: "string" },
  json: { type: "boolean" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
  from: { type: "string" },
  type: { type: "string", multiple: true },
  tag: { type: "string", multiple: true },
  backwards: { type: "boolean" },
  limit: { type: "string" },
  actor: { type: "string" },
  all: { type: "boolean" },
  "from-seq": { type: "string" },
  "follow-new-stream": { type: "boolean" },
  out: { type: "string", short: "o" },
  concurrency: { type: "string" },
  reason: { type: "string" },
  yes: { type: "boolean", short: "y" },
  start: { type: "boolean" },
  seq: { type: "string" },
  time: { type: "string" },
  port: { type: "string" },
  host: { type: "string" },
} as const;

export type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

const GLOBAL: ReadonlySet<string> = new Set(["server", "creds", "user", "password", "token", "stream", "json", "timeout", "help"]);

/** The flags each command takes beside the global ones; a request command's are in the endpoint table. */
export const COMMAND_FLAGS: Readonly<Record<string, readonly string[]>> = {
  ...endpointFlags(),
  tail: ["actor", "all", "from-seq", "follow-new-stream"],
  ls: [],
  export: ["out"],
  import: ["concurrency"],
  erase: ["reason", "yes"],
  projections: ["start", "seq", "time"],
  console: ["port", "host"],
};

export interface Invocation {
  command?: string;
  args: string[];
  flags: Flags;
}

export function parseInvocation(argv: string[]): Invocation {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const [command, ...args] = parsed.positionals;
  const flags = parsed.values;
  if (command !== undefined) {
    const allowed = COMMAND_FLAGS[command];
    if (!allowed) throw new UsageError(`unknown command "${command}"`);
    for (const name of Object.keys(flags)) {
      if (!GLOBAL.has(name) && !allowed.includes(name)) throw new UsageError(`--${name} does not apply to ${command}`);
    }
  }
  return { command, args, flags };
}

/** A non-negative integer flag, or the fallback when absent. */
export function integerFlag(flags: Flags, name: keyof Flags, fallback: number, min = 0): number {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  if (typeof raw !== "string" || !/^\d+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
    throw new UsageError(`--${name} must be an integer >= ${min}, got "${String(raw)}"`);
  }
  return Number(raw);
}

/** Exactly `count` positional arguments, named for the message. */
export function positionals(args: string[], names: string[], optional = 0): string[] {
  if (args.length > names.length || args.length < names.length - optional) {
    if (names.length === 0) throw new UsageError(`takes no arguments, got ${args.length}`);
    throw new UsageError(`expected ${names.map((n) => `<${n}>`).join(" ")}, got ${args.length} argument(s)`);
  }
  return args;
}
