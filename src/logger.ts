import { pino, type DestinationStream, type Logger } from "pino";
import type { LogLevel } from "./config.js";

export type { Logger };

/**
 * One JSON line per event worth logging. Credentials are redacted wherever they could appear;
 * event payloads are only ever logged at debug level and below.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: "eventstore", pid: process.pid },
    redact: {
      paths: ["password", "token", "pass", "auth.password", "auth.token", "*.password", "*.token", "*.pass"],
      censor: "[redacted]",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
