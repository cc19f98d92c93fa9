import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type Authenticator,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  errors,
  type NatsConnection,
  nkeyAuthenticator,
  type TlsOptions,
} from "@nats-io/transport-node";
import { type AuthConfig, ConfigError } from "../config.js";

/** Connection settings beside the credentials. */
export interface ConnectionTuning {
  /** How long the first connection may take. */
  timeoutMs?: number;
  /** Prefix of this connection's reply subjects (its inboxes). */
  inboxPrefix?: string;
}

/**
 * Connection options from the auth settings; the secrets stay in here and never reach a log.
 * Every file is read now, so that a missing or unreadable one is a ConfigError naming its variable.
 */
export function connectionOptions(servers: string, auth: AuthConfig, name: string, tuning: ConnectionTuning = {}): ConnectionOptions {
  const authenticators: Authenticator[] = [];
  if (auth.credsFile) authenticators.push(credsAuthenticator(readSecret(auth.credsFile, `${auth.variablePrefix}CREDS`)));
  if (auth.nkeySeedFile) {
    const seed = new TextDecoder().decode(readSecret(auth.nkeySeedFile, `${auth.variablePrefix}NKEY`)).trim();
    authenticators.push(nkeyAuthenticator(new TextEncoder().encode(seed)));
  }
  const tls: TlsOptions = {};
  if (auth.tlsCaFile) tls.ca = readText(auth.tlsCaFile, "NATS_TLS_CA");
  if (auth.tlsCertFile && auth.tlsKeyFile) {
    tls.cert = readText(auth.tlsCertFile, "NATS_TLS_CERT");
    tls.key = readText(auth.tlsKeyFile, "NATS_TLS_KEY");
  }
  return {
    servers: servers
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    name,
    // Building a stack trace for every request halves pipelined throughput.
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    ...(tuning.timeoutMs ? { timeout: tuning.timeoutMs } : {}),
    ...(tuning.inboxPrefix ? { inboxPrefix: tuning.inboxPrefix } : {}),
    ...(auth.user ? { user: auth.user, pass: auth.password } : {}),
    ...(auth.token ? { token: auth.token } : {}),
    ...(authenticators.length > 0 ? { authenticator: authenticators } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
}

function readSecret(path: string, variable: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${variable}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function readText(path: string, variable: string): string {
  return new TextDecoder().decode(readSecret(path, variable));
}

/** The variables that configure how this process authenticates: names only, never values. */
export function describeAuth(auth: AuthConfig): string {
  const used = [
    auth.credsFile && `${auth.variablePrefix}CREDS`,
    auth.nkeySeedFile && `${auth.variablePrefix}NKEY`,
    auth.user && `${auth.variablePrefix}USER/${auth.variablePrefix}PASSWORD`,
    auth.token && `${auth.variablePrefix}TOKEN`,
    auth.tlsCaFile && "NATS_TLS_CA",
    auth.tlsCertFile && "NATS_TLS_CERT/NATS_TLS_KEY",
  ].filter(Boolean);
  return used.length > 0 ? used.join(", ") : "no credentials and no TLS settings";
}

/**
 * What a NATS failure at start means for the operator, in one sentence; undefined when it is not
 * one of those. Matched on the client's error classes; the server's or TLS library's own words
 * stay in the error message.
 */
export function explainNatsFailure(err: unknown, auth: AuthConfig): string | undefined {
  const configured = describeAuth(auth);
  if (err instanceof errors.AuthorizationError || err instanceof errors.UserAuthenticationExpiredError) {
    return `the NATS server refused the credentials (configured: ${configured})`;
  }
  const violation = err instanceof Error && err.cause instanceof errors.PermissionViolationError ? err.cause : err;
  if (violation instanceof errors.PermissionViolationError) {
    return `the NATS user lacks a permission the service needs (${violation.operation} ${violation.subject}): see docs/security.md`;
  }
  if (err instanceof errors.TimeoutError) {
    return (
      `the NATS server did not complete the connection in time (configured: ${configured}); ` +
      `when it requires a client certificate (mutual TLS), NATS_TLS_CERT and NATS_TLS_KEY must name one its CA signed`
    );
  }
  if (tlsFailure(err)) {
    return `the TLS handshake with the NATS server failed (configured: ${configured})`;
  }
  if (err instanceof errors.InvalidArgumentError) {
    return `the NATS server and the connection settings disagree (configured: ${configured})`;
  }
  return undefined;
}

const TLS_ERROR_CODE = /^(ERR_SSL_|ERR_TLS_|ERR_OSSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/;

/**
 * Node's TLS layer reports certificate and handshake failures with codes such as CERT_* or
 * ERR_SSL_*; the NATS client passes them on as they are or as the cause of a ConnectionError.
 */
function tlsFailure(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (TLS_ERROR_CODE.test((e as NodeJS.ErrnoException).code ?? "")) return true;
  }
  return false;
}

// Pause between two attempts at a first connection that the server refused.
const CONNECT_RETRY_MS = 500;
// A server that is not there yet, not a server that refused these settings.
const NOT_THERE_YET = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

function notThereYet(err: unknown): boolean {
  if (tlsFailure(err)) return false;
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (NOT_THERE_YET.has((e as NodeJS.ErrnoException).code ?? "")) return true;
  }
  return false;
}

/**
 * The first connection. A server that is not up yet (refused, unknown host: a supervisor that starts
 * NATS and the service together) is tried again every 500 ms until tuning.timeoutMs has passed,
 * `retrying` told of each failed attempt; credentials or TLS the server refuses fail at once.
 */
export async function connectNats(
  servers: string,
  auth: AuthConfig,
  name = "eventstore",
  tuning: ConnectionTuning = {},
  retrying?: (attempt: number, err: Error) => void,
): Promise<NatsConnection> {
  const deadline = Date.now() + (tuning.timeoutMs ?? 0);
  for (let attempt = 1; ; attempt++) {
    const timeoutMs = Math.max(deadline - Date.now(), 1);
    try {
      return await connect(connectionOptions(servers, auth, name, { ...tuning, ...(tuning.timeoutMs ? { timeoutMs } : {}) }));
    } catch (err) {
      if (!notThereYet(err) || Date.now() + CONNECT_RETRY_MS > deadline) throw err;
      retrying?.(attempt, err as Error);
      await sleep(CONNECT_RETRY_MS);
    }
  }
}
