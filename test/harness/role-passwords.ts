import { randomBytes } from "node:crypto";

/**
 * A new password for each user of deploy/permissions.conf (and an unrestricted admin for a test's
 * own checks), put in this process's environment, where the file takes them from: nats-server
 * started from here inherits them.
 */
export function rolePasswords() {
  const passwords = {
    eventstore: secret(),
    "eventstore-jetstream": secret(),
    "eventstore-writer": secret(),
    "eventstore-reader": secret(),
    "eventstore-eraser": secret(),
    "eventstore-projector": secret(),
    admin: secret(),
  };
  process.env.EVENTSTORE_NATS_PASSWORD = passwords.eventstore;
  process.env.EVENTSTORE_JETSTREAM_NATS_PASSWORD = passwords["eventstore-jetstream"];
  process.env.WRITER_NATS_PASSWORD = passwords["eventstore-writer"];
  process.env.READER_NATS_PASSWORD = passwords["eventstore-reader"];
  process.env.ERASER_NATS_PASSWORD = passwords["eventstore-eraser"];
  process.env.PROJECTOR_NATS_PASSWORD = passwords["eventstore-projector"];
  return passwords;
}

/**
 * The inbox prefix each caller role of deploy/permissions.conf must use: it may subscribe to its
 * own inboxes only.
 */
export const ROLE_INBOX_PREFIX: Readonly<Record<string, string>> = Object.freeze({
  "eventstore-writer": "_INBOX_writer",
  "eventstore-reader": "_INBOX_reader",
  "eventstore-eraser": "_INBOX_eraser",
  "eventstore-projector": "_INBOX_projector",
});

// nats-server reads a variable's value as configuration: one that starts with a digit would be a
// number (and a parse error on 2.9), so every secret starts with a letter.
function secret(): string {
  return `s${randomBytes(12).toString("hex")}`;
}
