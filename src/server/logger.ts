import { type DestinationStream, type Logger, type LoggerOptions, pino } from "pino";
import type { LogLevel } from "./config.js";

export type { Logger };

/**
 * One JSON line per event worth logging; on a terminal, one readable line instead. Credentials
 * are redacted wherever they could appear; event payloads are only ever logged at debug level and
 * below.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: "eventstore", pid: process.pid },
    redact: {
      paths: ["password", "token", "pass", "auth.password", "auth.token", "*.password", "*.token", "*.pass"],
      censor: "[redacted]",
    },
  };
  if (destination) return pino(options, destination);
  return forTerminal() ? pino(options, prettyTransport()) : pino(options);
}

/** A person is reading: stdout is a terminal, and neither CI nor a test run captures it. */
function forTerminal(): boolean {
  return process.stdout.isTTY === true && !process.env.CI && !process.env.VITEST;
}

/**
 * pino-pretty in a worker thread: the service still writes JSON (redacted as above) and the
 * formatting happens off the thread that serves requests.
 */
function prettyTransport(): DestinationStream {
  return pino.transport({
    target: "pino-pretty",
    options: {
      // The worker's own stdout is not a terminal, so colour detection there would turn it off.
      colorize: true,
      singleLine: true,
      // The service logs `err` as a message string: keep it on the line like any other field.
      errorLikeObjectKeys: [],
      translateTime: "SYS:HH:MM:ss.l",
      ignore: "service,pid,hostname",
    },
  }) as DestinationStream;
}
