import { readFileSync } from "node:fs";
import {
  type Authenticator,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
} from "@nats-io/transport-node";
import { type AuthConfig, ConfigError } from "../config.js";

/** Connection options from the auth settings; the secrets stay in here and never reach a log. */
export function connectionOptions(servers: string, auth: AuthConfig, name: string): ConnectionOptions {
  const authenticators: Authenticator[] = [];
  if (auth.credsFile) authenticators.push(credsAuthenticator(readSecret(auth.credsFile, "NATS_CREDS")));
  if (auth.nkeySeedFile) {
    const seed = new TextDecoder().decode(readSecret(auth.nkeySeedFile, "NATS_NKEY")).trim();
    authenticators.push(nkeyAuthenticator(new TextEncoder().encode(seed)));
  }
  const tls =
    auth.tlsCaFile || auth.tlsCertFile
      ? {
          ...(auth.tlsCaFile ? { caFile: auth.tlsCaFile } : {}),
          ...(auth.tlsCertFile ? { certFile: auth.tlsCertFile, keyFile: auth.tlsKeyFile } : {}),
        }
      : undefined;
  return {
    servers: servers.split(",").map((s) => s.trim()).filter(Boolean),
    name,
    // Building a stack trace for every request halves pipelined throughput.
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    ...(auth.user ? { user: auth.user, pass: auth.password } : {}),
    ...(auth.token ? { token: auth.token } : {}),
    ...(authenticators.length > 0 ? { authenticator: authenticators } : {}),
    ...(tls ? { tls } : {}),
  };
}

function readSecret(path: string, variable: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${variable}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export async function connectNats(servers: string, auth: AuthConfig, name = "eventstore"): Promise<NatsConnection> {
  return connect(connectionOptions(servers, auth, name));
}
