import { endpointUsage } from "./endpoint-commands.js";

/** The command line is wrong: exit code 2, with the usage hint. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The input (a file or stdin) is wrong at a line: exit code 1, nothing of that input stored. */
export class InputError extends Error {
  override readonly name = "InputError";
  constructor(
    readonly source: string,
    readonly line: number,
    reason: string,
  ) {
    super(`${source}:${line}: ${reason}`);
  }
}

const SUMMARY_COLUMN = 35;
const WIDTH = 100;

/** A command and its summary: the summary in its column, wrapped; a command too long for its own column gets a line of its own. */
function usageLine(command: string, summary: string): string {
  const indent = " ".repeat(SUMMARY_COLUMN);
  const lines: string[] = [];
  for (const word of summary.split(" ")) {
    const last = lines.at(-1);
    if (last !== undefined && SUMMARY_COLUMN + last.length + 1 + word.length <= WIDTH) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  const head = command.length < SUMMARY_COLUMN - 2 ? `  ${command.padEnd(SUMMARY_COLUMN - 2)}` : `  ${command}\n${indent}`;
  return `${head}${lines.join(`\n${indent}`)}\n`;
}

export const USAGE = `Usage: nats-eventstore <command> [arguments] [options]

Commands:
${endpointUsage()
  .map(([command, summary]) => usageLine(command, summary))
  .join("")}  tail [actorType] [--actor ID]    follow new events (of a type, of one actor, or all)
       [--all | --from-seq N]      ... starting with every stored event, or at a stream sequence
       [--follow-new-stream]       ... reading a deleted and recreated stream anew (else exit 1)
                                   JSON lines are {"sequence","event"}: resume at sequence + 1
  ls                               running replicas: id, version, requests, errors, latency
  export [actorType] [--out FILE]  stored events (of a type, or all) as NDJSON, as stored
  import [FILE|-] [--concurrency N]
                                   NDJSON events back in through the service; idempotent; the
                                   whole input (stdin too) is checked first, sizes included
  erase <actorId> [--reason TEXT] [--yes]
                                   erase an actor for good (asks on a terminal unless --yes)
  projections ls                   projections: mode, filter, ack floor, pending, active, failed/skipped
  projections reset <name> --start|--seq N|--time T
                                   move a projection (running or not) to its start, a sequence or a time
  projections rm <name>            delete a projection and its checkpoint
  console [--port N] [--host H]    a web console (service, actors, live tail, projections, erase)
                                   on 127.0.0.1 (or H), port N (default: a free one); prints its
                                   URL, whose token it needs; runs with this command's NATS user

Connection (flag, else environment variable, as for the service):
  --server URL      NATS_URL (comma-separated; default nats://127.0.0.1:4222)
  --creds FILE      NATS_CREDS
  --user U          NATS_USER      --password P  NATS_PASSWORD (each needs the other)
  --token T         NATS_TOKEN     (also NATS_NKEY, NATS_TLS_CA, NATS_TLS_CERT, NATS_TLS_KEY)
  --stream NAME     EVENTSTORE_STREAM (default: asked from the service)
  NATS_INBOX_PREFIX the inbox prefix your NATS user may subscribe to (default _INBOX;
                    _INBOX_writer, _INBOX_reader, ... with deploy/permissions.conf)

Output:
  --json            JSON even on a terminal (it is the default when stdout is not a terminal)
  --timeout MS      per request attempt (default 10000)
  -h, --help

Exit codes: 0 ok, 1 the request or the input failed, 2 usage error.
`;
