import { integerFlag, positionals } from "../../cli/args.js";
import type { Command } from "../../cli/context.js";
import { ConsoleApi } from "./api.js";
import { startConsoleServer } from "./http.js";

/** Loopback unless --host says otherwise: the console can do what the CLI's NATS user may. */
const DEFAULT_HOST = "127.0.0.1";

/** `console [--port N] [--host H]`: serves the web console until SIGINT or SIGTERM. */
export const consoleCommand: Command = (args, flags) => {
  positionals(args, []);
  const port = integerFlag(flags, "port", 0, 0);
  const host = flags.host ?? DEFAULT_HOST;
  return async ({ client, nc, timeoutMs, stderr }) => {
    const server = await startConsoleServer(new ConsoleApi(client, nc, timeoutMs), host, port);
    // The URL alone on stdout, for a script to read; the rest on stderr.
    process.stdout.write(`${server.url}\n`);
    stderr.write(`the console serves on ${host} with the NATS user of this command; open the URL above (Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
      nc.closed().then(() => resolve());
    });
    await server.close();
  };
};
