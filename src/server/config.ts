import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import type { ConnectionEnvironment, Environment } from "./config-schema.js";
import { packageRoot, schemasDir } from "./paths.js";

export type Backend = Environment["EVENTSTORE_BACKEND"];
export type LogLevel = Environment["LOG_LEVEL"];

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
  /** Port of the /metrics, /healthz and /readyz listener; undefined: none; 0: any free port. */
  readonly metricsPort: number | undefined;
  /** Address the metrics listener binds (loopback unless told otherwise: it has no authentication). */
  readonly metricsHost: string;
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

/** The rules of one variable that a refusal names. */
interface PropertySchema {
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  pattern?: string;
  enum?: string[];
}

interface EnvironmentSchema {
  definitions: { connection: { properties: Record<string, PropertySchema> } };
}

/** schemas/config.json: every variable's rule and default. */
function environmentSchema(): EnvironmentSchema {
  return JSON.parse(readFileSync(join(schemasDir(), "config.json"), "utf8")) as EnvironmentSchema;
}

let validator: ValidateFunction<Environment> | undefined;

/** Compiled on first use and kept: tests load many configurations, a process one or two. */
function environmentValidator(): ValidateFunction<Environment> {
  // coerceTypes turns "3" into 3 for the integer variables; useDefaults fills in what is unset.
  validator ??= new Ajv({ strict: true, coerceTypes: true, useDefaults: true, verbose: true }).compile<Environment>(environmentSchema());
  return validator;
}

/** The variables the CLI reads (how to reach NATS and which store); the others are the service's alone. */
export function connectionVariables(): (keyof ConnectionEnvironment)[] {
  return Object.keys(environmentSchema().definitions.connection.properties) as (keyof ConnectionEnvironment)[];
}

/** One refusal in words that name the variable and its rule. */
function describeRefusal(error: ErrorObject): string {
  if (error.keyword === "dependencies") {
    const { property, missingProperty } = error.params as { property: string; missingProperty: string };
    return `${property} and ${missingProperty} go together: set both or neither`;
  }
  const name = error.instancePath.slice(1);
  const rule = error.parentSchema as PropertySchema;
  const got = typeof error.data === "string" ? `"${error.data}"` : String(error.data);
  switch (error.keyword) {
    // Every value arrives as a string, so only an integer variable can have the wrong type.
    case "type":
      return `${name} must be an integer, got ${got}`;
    case "minimum":
    case "maximum":
      return `${name} must be between ${rule.minimum} and ${rule.maximum}, got ${got}`;
    case "enum": {
      const values = rule.enum!;
      return `${name} must be ${values.length === 2 ? values.join(" or ") : `one of ${values.join(", ")}`}, got ${got}`;
    }
    case "pattern":
      return `${name} must match /${rule.pattern}/, got ${got}`;
    case "maxLength":
      return `${name} must be at most ${rule.maxLength} characters, got ${got}`;
    default:
      return `${name} ${error.message}, got ${got}`;
  }
}

/** The environment checked against schemas/config.json, defaults filled in. An empty value counts as unset. */
function validEnvironment(env: NodeJS.ProcessEnv): Environment {
  const set = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ""));
  const validate = environmentValidator();
  if (!validate(set)) throw new ConfigError(describeRefusal(validate.errors![0]!));
  return set;
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string };
  return pkg.version;
}

/** The credential variables under one prefix: NATS_USER, ... or NATS_JETSTREAM_USER, ... */
function credentials(e: Environment, prefix: "NATS_" | "NATS_JETSTREAM_"): AuthConfig {
  return {
    variablePrefix: prefix,
    credsFile: e[`${prefix}CREDS`],
    nkeySeedFile: e[`${prefix}NKEY`],
    user: e[`${prefix}USER`],
    password: e[`${prefix}PASSWORD`],
    token: e[`${prefix}TOKEN`],
  };
}

function hasCredentials(a: AuthConfig): boolean {
  return [a.credsFile, a.nkeySeedFile, a.user, a.token].some((v) => v !== undefined);
}

/** Reads the environment once, validates it against schemas/config.json and returns a frozen Config. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const e = validEnvironment(env);
  const tls = { tlsCaFile: e.NATS_TLS_CA, tlsCertFile: e.NATS_TLS_CERT, tlsKeyFile: e.NATS_TLS_KEY };
  const jetstreamCredentials = credentials(e, "NATS_JETSTREAM_");
  const config: Config = {
    natsUrl: e.NATS_URL,
    stream: e.EVENTSTORE_STREAM,
    replicas: e.EVENTSTORE_REPLICAS,
    queue: e.EVENTSTORE_QUEUE,
    logLevel: e.LOG_LEVEL,
    backend: e.EVENTSTORE_BACKEND,
    cacheSize: e.EVENTSTORE_CACHE_SIZE,
    indexSize: e.EVENTSTORE_INDEX_SIZE,
    snapshotsKeep: e.EVENTSTORE_SNAPSHOTS_KEEP,
    jetstreamTimeoutMs: e.EVENTSTORE_JS_TIMEOUT_MS,
    maxDepth: e.EVENTSTORE_MAX_DEPTH,
    maxRequestBytes: e.EVENTSTORE_MAX_REQUEST_BYTES,
    maxReadEvents: e.EVENTSTORE_MAX_READ_EVENTS,
    connectTimeoutMs: e.NATS_CONNECT_TIMEOUT_MS,
    metricsPort: e.EVENTSTORE_METRICS_PORT,
    metricsHost: e.EVENTSTORE_METRICS_HOST,
    inboxPrefix: e.NATS_INBOX_PREFIX,
    reconfigure: e.EVENTSTORE_RECONFIGURE === "1",
    auth: Object.freeze({ ...credentials(e, "NATS_"), ...tls }),
    jetstreamAuth: hasCredentials(jetstreamCredentials) ? Object.freeze({ ...jetstreamCredentials, ...tls }) : undefined,
    version: packageVersion(),
  };
  return Object.freeze(config);
}
