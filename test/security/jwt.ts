import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createAccount, createOperator, createUser, type KeyPair } from "@nats-io/nkeys";

// Decentralized auth for the creds-file tests: an operator, one account with JetStream, users.
// NATS JWTs (v2) are `base64url(header).base64url(claims).base64url(ed25519 signature)`, signed by
// the issuer's nkey; jti is the base32 of the claims' SHA-512/256 with jti empty.

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

const b64url = (data: string | Uint8Array) => Buffer.from(data).toString("base64url");

function encodeJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const claims = { jti: "", iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats };
  claims.jti = base32(createHash("sha512-256").update(JSON.stringify(claims)).digest());
  const signingInput = `${b64url(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }))}.${b64url(JSON.stringify(claims))}`;
  return `${signingInput}.${b64url(issuer.sign(new TextEncoder().encode(signingInput)))}`;
}

/** NATS permissions as a user JWT carries them. */
export interface JwtPermissions {
  pub?: { allow?: string[]; deny?: string[] };
  sub?: { allow?: string[]; deny?: string[] };
  /** Like allow_responses: may answer this many replies to each request it received. */
  resp?: { max: number; ttl: number };
}

export interface OperatorSetup {
  /** nats-server configuration: the operator, and the account preloaded in a memory resolver. */
  serverConfig: string;
  /** Writes a creds file for a new user of the account and returns its path. */
  user(name: string, permissions?: JwtPermissions): string;
  /** A creds file whose user an account nobody trusts signed: the server must refuse it. */
  strangerCreds(): string;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1 };
const ACCOUNT_LIMITS = { ...UNLIMITED, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

export function makeOperator(dir: string): OperatorSetup {
  const operator = createOperator();
  const account = createAccount();
  // JetStream needs a system account to start in operator mode.
  const system = createAccount();
  const operatorJwt = encodeJwt(operator, operator.getPublicKey(), "TEST_OPERATOR", { type: "operator", version: 2 });
  const accountJwt = encodeJwt(operator, account.getPublicKey(), "EVENTSTORE", {
    limits: { ...ACCOUNT_LIMITS, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
    type: "account",
    version: 2,
  });

  const writeCreds = (issuer: KeyPair, name: string, permissions: JwtPermissions): string => {
    const user = createUser();
    const jwt = encodeJwt(issuer, user.getPublicKey(), name, { ...UNLIMITED, ...permissions, type: "user", version: 2 });
    const file = join(dir, `${name}.creds`);
    const seed = new TextDecoder().decode(user.getSeed());
    writeFileSync(
      file,
      `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
        `-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`,
      { mode: 0o600 },
    );
    return file;
  };

  const systemJwt = encodeJwt(operator, system.getPublicKey(), "SYS", { limits: ACCOUNT_LIMITS, type: "account", version: 2 });
  return {
    serverConfig: [
      `operator: ${JSON.stringify(operatorJwt)}`,
      `system_account: ${system.getPublicKey()}`,
      "resolver: MEMORY",
      "resolver_preload: {",
      `  ${account.getPublicKey()}: ${JSON.stringify(accountJwt)}`,
      `  ${system.getPublicKey()}: ${JSON.stringify(systemJwt)}`,
      "}",
    ].join("\n"),
    user: (name, permissions = {}) => writeCreds(account, name, permissions),
    strangerCreds: () => writeCreds(createAccount(), "stranger", {}),
  };
}
