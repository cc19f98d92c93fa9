import { randomBytes } from "node:crypto";

/**
 * 22 characters of base64url from 16 random bytes. nats.js names inboxes with its NUID, whose
 * 12-character prefix every id of the process shares (the service id $SRV.INFO hands to any
 * caller) and whose sequence grows by small steps: an inbox named that way can be guessed.
 */
export function randomToken(): string {
  return randomBytes(16).toString("base64url");
}

/**
 * The service's inboxes under NATS_INBOX_PREFIX (`prefix`). Two kinds, apart so that permissions
 * can tell them apart:
 * - `<prefix>.js.<random>`: JetStream's answers, which carry any actor's events. Only nats-server
 *   writes there: the identity that takes requests may not publish to them, and the reply guard
 *   drops a request that names one.
 * - `<prefix>.replicas.<random>`: the $SRV.INFO answers of the replicas already serving, asked
 *   at start; the identity that takes requests answers there.
 */
export const serviceInboxes = {
  /** What every JetStream inbox of every replica starts with. */
  jetstream: (prefix: string) => `${prefix}.js.`,
  replicas: (prefix: string) => `${prefix}.replicas.`,
};

/** A connection's own inbox prefix for JetStream answers: new for each connection, unguessable. */
export function jetstreamInboxPrefix(prefix: string): string {
  return `${serviceInboxes.jetstream(prefix)}${randomToken()}`;
}

/** One inbox for the replicas' $SRV.INFO answers. */
export function replicasInbox(prefix: string): string {
  return `${serviceInboxes.replicas(prefix)}${randomToken()}`;
}
