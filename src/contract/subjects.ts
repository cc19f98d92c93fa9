// Every subject and stream name of the streams, in one place (the endpoints' subjects are in endpoints.ts).
//
// Actor ids become subject tokens. An id made only of [A-Za-z0-9_-] is its own token (as in the
// seed). Any other id is escaped: each UTF-8 byte outside that set becomes "~" and two lowercase
// hex digits. Plain tokens never contain "~", and "~" itself is always escaped, so the mapping is
// injective: "a.b" -> "a~2eb", "a_b" -> "a_b", "a b" -> "a~20b", "a~2eb" -> "a~7e2eb".

import { createHash } from "node:crypto";

const PLAIN = /^[A-Za-z0-9_-]+$/;
const PLAIN_BYTE = /[A-Za-z0-9_-]/;
const encoder = new TextEncoder();

export function escapeToken(value: string): string {
  if (PLAIN.test(value)) return value;
  let out = "";
  for (const byte of encoder.encode(value)) {
    const ch = String.fromCharCode(byte);
    out += byte < 0x80 && PLAIN_BYTE.test(ch) ? ch : "~" + byte.toString(16).padStart(2, "0");
  }
  return out;
}

export function unescapeToken(token: string): string {
  if (!token.includes("~")) return token;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === "~") {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(token.charCodeAt(i));
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** The part of the actor id before its first "-", unless that "-" leads; else "unknown". */
export function actorType(actorId: string): string {
  const dash = actorId.indexOf("-");
  return dash > 0 ? actorId.slice(0, dash) : "unknown";
}

export class Subjects {
  readonly eventsPrefix: string;
  readonly eventsWildcard: string;
  readonly snapshotsStream: string;
  readonly snapshotsPrefix: string;
  readonly snapshotsWildcard: string;
  /** v3: the tag links, one subject per tag (see tagToken). */
  readonly tagsPrefix: string;
  readonly tagsWildcard: string;
  /** v3: guard messages of conditional writes; they carry expectations and no data. */
  readonly guard: string;

  constructor(readonly stream: string) {
    this.eventsPrefix = `${stream}.events.`;
    this.eventsWildcard = `${stream}.events.>`;
    this.snapshotsStream = `${stream}_SNAPSHOTS`;
    this.snapshotsPrefix = `${stream}.snapshots.`;
    this.snapshotsWildcard = `${stream}.snapshots.>`;
    this.tagsPrefix = `${stream}.tags.`;
    this.tagsWildcard = `${stream}.tags.>`;
    this.guard = `${stream}.guard`;
  }

  /** Every subject of the events stream: events, tag links and guards. */
  eventsStreamSubjects(): string[] {
    return [this.eventsWildcard, this.tagsWildcard, this.guard];
  }

  /** `<stream>.tags.<tagToken(tag)>`: where the links of one tag are. */
  tags(tag: string): string {
    return this.tagsPrefix + tagToken(tag);
  }

  /** `<stream>.events.<actorType>.<actorToken>` */
  events(actorId: string): string {
    return this.eventsPrefix + actorSuffix(actorId);
  }

  /** All events of one actor type: `<stream>.events.<actorType>.*` */
  eventsOfType(type: string): string {
    return `${this.eventsPrefix}${escapeToken(type)}.*`;
  }

  /** What a projection of one actor type reads: `<stream>.events.<actorType>.>` (the contract's form). */
  projectionFilter(type: string): string {
    return `${this.eventsPrefix}${escapeToken(type)}.>`;
  }

  /** `<stream>.snapshots.<actorType>.<actorToken>` */
  snapshots(actorId: string): string {
    return this.snapshotsPrefix + actorSuffix(actorId);
  }
}

/**
 * A tag's subject token: the first 22 characters of base64url(SHA-256(tag)). Fixed length, always
 * one literal token, and no tag value (often personal: "username:alice") in any subject or header.
 * Two tags sharing a token (2^-132) only make a guard coarser: readers check each event's tags.
 */
export function tagToken(tag: string): string {
  return createHash("sha256").update(tag, "utf8").digest("base64url").slice(0, 22);
}

function actorSuffix(actorId: string): string {
  return `${escapeToken(actorType(actorId))}.${escapeToken(actorId)}`;
}

/** Message headers the service writes beside Nats-Msg-Id. */
export const Headers = Object.freeze({
  version: "Eventstore-Version",
  /** On an erased actor's tombstone: when it was erased. */
  erased: "Eventstore-Erased",
} as const);
