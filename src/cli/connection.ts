import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type Config, connectionVariables, loadConfig } from "../server/config.js";
import { connectionOptions } from "../server/nats/connect.js";
import type { Flags } from "./args.js";
import { UsageError } from "./usage.js";

export const DEFAULT_SERVER = "nats://127.0.0.1:4222";

/**
 * The service's configuration rules applied to the connection variables only, with the
 * command-line flags on top. The service's own settings keep their defaults, so that a bad one in
 * the shell (EVENTSTORE_CACHE_SIZE=abc, say) cannot stop a command that never uses it.
 */
export function cliConfig(flags: Flags, env: NodeJS.ProcessEnv): Config {
  const overrides: Record<string, string | undefined> = {
    NATS_URL: flags.server,
    NATS_CREDS: flags.creds,
    NATS_USER: flags.user,
    NATS_PASSWORD: flags.password,
    NATS_TOKEN: flags.token,
    EVENTSTORE_STREAM: flags.stream,
  };
  const merged: NodeJS.ProcessEnv = {};
  for (const name of connectionVariables()) merged[name] = overrides[name] ?? env[name];
  // The configuration's own refusal names the variables; given on the command line, the flags are what to fix.
  if (!merged.NATS_USER !== !merged.NATS_PASSWORD && (flags.user !== undefined || flags.password !== undefined)) {
    throw new UsageError(
      flags.user !== undefined ? "--user needs --password (or NATS_PASSWORD)" : "--password needs --user (or NATS_USER)",
    );
  }
  return loadConfig(merged);
}

/** The stream name when the caller named one (flag or variable); otherwise the client asks the service. */
export function explicitStream(flags: Flags, env: NodeJS.ProcessEnv, config: Config): string | undefined {
  return flags.stream !== undefined || env.EVENTSTORE_STREAM ? config.stream : undefined;
}

export async function connectCli(config: Config): Promise<NatsConnection> {
  const servers = config.natsUrl ?? DEFAULT_SERVER;
  try {
    return await connect({
      // NATS_INBOX_PREFIX: a role that may subscribe to its own inboxes only (deploy/permissions.conf).
      ...connectionOptions(servers, config.auth, "nats-eventstore-cli", { inboxPrefix: config.inboxPrefix }),
      // A command is short-lived: a dropped connection fails it instead of waiting for the server forever.
      maxReconnectAttempts: 10,
    });
  } catch (err) {
    throw new Error(`cannot connect to ${servers}: ${(err as Error).message}`, { cause: err });
  }
}
