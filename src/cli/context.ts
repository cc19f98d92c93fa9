import type { Readable, Writable } from "node:stream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EventStoreClient } from "../client/client.js";
import type { Config } from "../server/config.js";
import type { Flags } from "./args.js";
import type { Output } from "./output.js";

/** What a command runs with, once its arguments are known to be right and the connection is up. */
export interface Context {
  client: EventStoreClient;
  nc: NatsConnection;
  config: Config;
  flags: Flags;
  timeoutMs: number;
  out: Output;
  stdin: Readable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
}

export type Runner = (ctx: Context) => Promise<void>;

/**
 * A command checks its arguments first (a usage error needs no server), then returns what it runs.
 */
export type Command = (args: string[], flags: Flags) => Runner;
