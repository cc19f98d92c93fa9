#!/usr/bin/env node
import type { NatsConnection } from "@nats-io/transport-node";
import { DEFAULT_TIMEOUT_MS, EventStoreClient } from "../client/client.js";
import { consoleCommand } from "../console/server/command.js";
import { ConfigError } from "../server/config.js";
import { startTracing, tracer } from "../server/observability/tracing.js";
import { integerFlag, parseInvocation } from "./args.js";
import { erase } from "./commands/erase.js";
import { exportEvents } from "./commands/export.js";
import { importEvents } from "./commands/import.js";
import { ls } from "./commands/ls.js";
import { projections } from "./commands/projections.js";
import { endpointCommands } from "./commands/requests.js";
import { tail } from "./commands/tail.js";
import { cliConfig, connectCli, explicitStream } from "./connection.js";
import type { Command } from "./context.js";
import { Output } from "./output.js";
import { describeError } from "./report.js";
import { USAGE, UsageError } from "./usage.js";

const COMMANDS: Readonly<Record<string, Command>> = {
  ...endpointCommands(),
  tail,
  ls,
  export: exportEvents,
  import: importEvents,
  erase,
  projections,
  console: consoleCommand,
};

const ExitCode = Object.freeze({ ok: 0, failed: 1, usage: 2 } as const);

async function main(argv: string[]): Promise<number> {
  let nc: NatsConnection | undefined;
  try {
    const { command, args, flags } = parseInvocation(argv);
    if (flags.help) {
      process.stdout.write(USAGE);
      return ExitCode.ok;
    }
    if (command === undefined) throw new UsageError("no command given");
    const run = COMMANDS[command]!(args, flags);
    const config = cliConfig(flags, process.env);
    const timeoutMs = integerFlag(flags, "timeout", DEFAULT_TIMEOUT_MS, 1);
    nc = await connectCli(config);
    const client = new EventStoreClient(nc, { timeoutMs, stream: explicitStream(flags, process.env, config) });
    await run({
      client,
      nc,
      config,
      flags,
      timeoutMs,
      out: new Output(process.stdout, flags.json === true || !process.stdout.isTTY),
      stdin: process.stdin,
      stderr: process.stderr,
    });
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`nats-eventstore: ${err.message}\nRun "nats-eventstore --help" for usage.\n`);
      return ExitCode.usage;
    }
    process.stderr.write(`nats-eventstore: ${describeError(err)}\n`);
    return ExitCode.failed;
  } finally {
    await nc?.close();
  }
}

/**
 * With OTEL_ variables set, the command is one span, exported by the OpenTelemetry SDK before the
 * process ends, and its requests carry it to the service (traceparent).
 */
async function traced(argv: string[]): Promise<number> {
  const tracing = await startTracing(process.env, "nats-eventstore-cli");
  if (!tracing) return main(argv);
  try {
    return await tracer.startActiveSpan(`nats-eventstore ${commandName(argv)}`.trim(), async (span) => {
      try {
        return await main(argv);
      } finally {
        span.end();
      }
    });
  } finally {
    await tracing.shutdown();
  }
}

/** The command's name for its span; main reports a bad invocation. */
function commandName(argv: string[]): string {
  try {
    return parseInvocation(argv).command ?? "";
  } catch {
    return "";
  }
}

// exitCode rather than exit(): the process ends once stdout has taken everything written to it.
void traced(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
