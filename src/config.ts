import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "./paths.js";

export type Backend = "jetstream" | "memory";
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface AuthConfig {
  /** Where the credentials came from (NATS_ or NATS_JETSTREAM_), so that messages name the right variables. */
  readonly variablePrefix: string;
  readonly credsFile?: string;
  readonly nkeySeedFile?: string;
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  readonly tlsCaFile?: string;
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
}

export interface Config {
  /** Comma-separated NATS servers; undefined means: run a local nats-server. */
  readonly natsUrl?: string;
  readonly stream: string;
  readonly replicas: number;
  readonly queue: string;
  readonly logLevel: LogLevel;
  readonly backend: Backend;
  /** Actors whose (version, last sequence) the version cache remembers. */
  readonly cacheSize: number;
  /** Version -> sequence entries the read index keeps over all actors. */
  readonly indexSize: number;
  /** Snapshots kept per actor; older ones are dropped by the stream. */
  readonly snapshotsKeep: number;
  /** Timeout of one JetStream request; past it the caller gets a 503. */
  readonly jetstreamTimeoutMs: number;
  /** Largest nesting of objects and arrays accepted in a request. */
  readonly maxDepth: number;
  /** Largest request body accepted; undefined: the server's max_payload less the service's headroom. */
  readonly maxRequestBytes: number | undefined;
  /** Most events one events reply carries; a larger `limit` is cut to it (the reply says hasMore). */
  readonly maxReadEvents: number;
  /** How long the first connection to NATS may take before the start fails. */
  readonly connectTimeoutMs: number;
  /** Prefix of the service's reply subjects, so that its permissions need not cover every inbox. */
  readonly inboxPrefix: string;
  /**
   * Changes to the streams that lose durability or data other replicas rely on (fewer replicas,
   * a lower snapshot bound) happen only when the operator says so (EVENTSTORE_RECONFIGURE=1).
   */
  readonly reconfigure: boolean;
  /** Credentials of the connection that serves requests (and, without jetstreamAuth, of the only one). */
  readonly auth: AuthConfig;
  /**
   * Credentials of a second connection that reads and writes JetStream (NATS_JETSTREAM_*), so that
   * the identity answering requests needs no publish rights beyond callers' inboxes. TLS settings
   * are those of auth. Undefined: one connection does both.
   */
  readonly jetstreamAuth: AuthConfig | undefined;
  readonly version: string;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const STREAM_NAME = /^[A-Za-z0-9_-]{1,32}$/;
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const INBOX_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be an integer, got "${raw}"`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function optional(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === "" ? undefined : v;
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string };
  return pkg.version;
}

/** The credential variables under one prefix: NATS_USER, ... or NATS_JETSTREAM_USER, ... */
function credentials(env: NodeJS.ProcessEnv, prefix: string): AuthConfig {
  const user = optional(env, `${prefix}USER`);
  const password = optional(env, `${prefix}PASSWORD`);
  if ((user === undefined) !== (password === undefined)) {
    throw new ConfigError(`${prefix}USER and ${prefix}PASSWORD go together: set both or neither`);
  }
  return {
    variablePrefix: prefix,
    credsFile: optional(env, `${prefix}CREDS`),
    nkeySeedFile: optional(env, `${prefix}NKEY`),
    user,
    password,
    token: optional(env, `${prefix}TOKEN`),
  };
}

function hasCredentials(a: AuthConfig): boolean {
  return [a.credsFile, a.nkeySeedFile, a.user, a.token].some((v) => v !== undefined);
}

/** Reads the environment once, validates every value and returns a frozen Config. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const stream = optional(env, "EVENTSTORE_STREAM") ?? "EVENTS";
  if (!STREAM_NAME.test(stream)) {
    throw new ConfigError(`EVENTSTORE_STREAM must match ${STREAM_NAME} (it is also a subject token), got "${stream}"`);
  }
  const queue = optional(env, "EVENTSTORE_QUEUE") ?? "q";
  if (!QUEUE_NAME.test(queue)) throw new ConfigError(`EVENTSTORE_QUEUE must match ${QUEUE_NAME}, got "${queue}"`);
  const logLevel = (optional(env, "LOG_LEVEL") ?? "info") as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`);
  }
  const backend = (optional(env, "EVENTSTORE_BACKEND") ?? "jetstream") as Backend;
  if (backend !== "jetstream" && backend !== "memory") {
    throw new ConfigError(`EVENTSTORE_BACKEND must be jetstream or memory, got "${backend}"`);
  }
  const inboxPrefix = optional(env, "NATS_INBOX_PREFIX") ?? "_INBOX";
  if (!INBOX_PREFIX.test(inboxPrefix) || inboxPrefix.length > 64) {
    throw new ConfigError(`NATS_INBOX_PREFIX must be subject tokens of [A-Za-z0-9_-] (no wildcards), got "${inboxPrefix}"`);
  }
  const maxRequestBytes =
    optional(env, "EVENTSTORE_MAX_REQUEST_BYTES") === undefined
      ? undefined
      : integer(env, "EVENTSTORE_MAX_REQUEST_BYTES", 0, 1024, 64 * 1024 * 1024);
  const tlsCertFile = optional(env, "NATS_TLS_CERT");
  const tlsKeyFile = optional(env, "NATS_TLS_KEY");
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) {
    throw new ConfigError("NATS_TLS_CERT and NATS_TLS_KEY go together: set both or neither");
  }
  const tls = { tlsCaFile: optional(env, "NATS_TLS_CA"), tlsCertFile, tlsKeyFile };
  const reconfigure = optional(env, "EVENTSTORE_RECONFIGURE") ?? "0";
  if (reconfigure !== "0" && reconfigure !== "1") {
    throw new ConfigError(`EVENTSTORE_RECONFIGURE must be 0 or 1, got "${reconfigure}"`);
  }
  const jetstreamCredentials = credentials(env, "NATS_JETSTREAM_");
  const config: Config = {
    natsUrl: optional(env, "NATS_URL"),
    stream,
    replicas: integer(env, "EVENTSTORE_REPLICAS", 1, 1, 5),
    queue,
    logLevel,
    backend,
    cacheSize: integer(env, "EVENTSTORE_CACHE_SIZE", 100_000, 1, 100_000_000),
    indexSize: integer(env, "EVENTSTORE_INDEX_SIZE", 1_000_000, 1, 1_000_000_000),
    snapshotsKeep: integer(env, "EVENTSTORE_SNAPSHOTS_KEEP", 3, 1, 1000),
    jetstreamTimeoutMs: integer(env, "EVENTSTORE_JS_TIMEOUT_MS", 5000, 100, 600_000),
    maxDepth: integer(env, "EVENTSTORE_MAX_DEPTH", 64, 2, 10_000),
    maxRequestBytes,
    maxReadEvents: integer(env, "EVENTSTORE_MAX_READ_EVENTS", 10_000, 1, 10_000),
    connectTimeoutMs: integer(env, "NATS_CONNECT_TIMEOUT_MS", 10_000, 500, 600_000),
    inboxPrefix,
    reconfigure: reconfigure === "1",
    auth: Object.freeze({ ...credentials(env, "NATS_"), ...tls }),
    jetstreamAuth: hasCredentials(jetstreamCredentials) ? Object.freeze({ ...jetstreamCredentials, ...tls }) : undefined,
    version: packageVersion(),
  };
  return Object.freeze(config);
}
