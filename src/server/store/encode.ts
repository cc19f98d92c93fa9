import { hash } from "node:crypto";
import { InternalError, ValidationError } from "../../contract/errors.js";
import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COLON, OPEN_BRACE, OPEN_BRACKET, QUOTE } from "./json-bytes.js";

// What a stored message holds: the request's own JSON, so that what is read back is what was
// sent (numbers as written, white space and all), with the timestamp added when it had none.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A value to store with its JSON: the bytes the caller sent when there are any. */
export interface Encoded<T> {
  value: T & { timestamp: string };
  json: Uint8Array;
}

/**
 * The JSON to store for an object that may lack a timestamp. From the caller's bytes, the
 * timestamp is spliced in before the closing brace; without bytes (a store used in-process),
 * the object is serialised.
 */
export function encode<T extends { timestamp?: string }>(value: T, raw?: Uint8Array): Encoded<T> {
  if (value.timestamp !== undefined) {
    const stamped = value as T & { timestamp: string };
    return { value: stamped, json: raw ?? encoder.encode(JSON.stringify(stamped)) };
  }
  const timestamp = now();
  // Not `{ ...value, timestamp }`: on node 20 a property after a spread costs a save ~1.5 µs.
  const stamped: T & { timestamp: string } = Object.assign({}, value, { timestamp });
  if (!raw) return { value: stamped, json: encoder.encode(JSON.stringify(stamped)) };
  let end = raw.length - 1;
  while (end >= 0 && raw[end] !== CLOSE_BRACE) end--;
  if (end < 0) throw new InternalError("a stored value must be a JSON object");
  // An ISO timestamp is ASCII and needs no escaping. The buffer comes from node's pool: a typed
  // array of its own, zeroed, costs a save more than the rest of this function.
  const addition = `${isEmptyObject(raw, end) ? "" : ","}"timestamp":"${timestamp}"}`;
  const json = Buffer.allocUnsafe(end + addition.length);
  json.set(raw.subarray(0, end));
  json.write(addition, end, "latin1");
  return { value: stamped, json };
}

// The time as toISOString writes it, formatted once per millisecond: a busy service saves many
// events in one.
let stampedAt = 0;
let stamp = "";
function now(): string {
  const ms = Date.now();
  if (ms !== stampedAt) {
    stampedAt = ms;
    stamp = new Date(ms).toISOString();
  }
  return stamp;
}

function isEmptyObject(raw: Uint8Array, close: number): boolean {
  for (let i = close - 1; i >= 0; i--) {
    const byte = raw[i]!;
    if (byte === OPEN_BRACE) return true;
    if (byte > 0x20) return false;
  }
  return true;
}

/**
 * The bytes of each object in the array under a top-level key of a JSON object, as sent. The body
 * has been parsed and validated already, so it is valid JSON and the array holds objects; a key
 * given twice counts as JSON.parse counts it, the last one.
 */
export function objectsUnder(body: Uint8Array, key: string): Uint8Array[] {
  let depth = 0;
  let under = false;
  let start = 0;
  let found: Uint8Array[] = [];
  for (let i = 0; i < body.length; i++) {
    const byte = body[i]!;
    if (byte === QUOTE) {
      const end = stringEnd(body, i);
      if (depth === 1 && nextSignificant(body, end + 1) === COLON) {
        under = JSON.parse(decoder.decode(body.subarray(i, end + 1))) === key;
        if (under) found = [];
      }
      i = end;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      depth++;
      if (under && depth === 3) start = i;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      if (under && depth === 3) found.push(body.subarray(start, i + 1));
      depth--;
    }
  }
  return found;
}

function stringEnd(body: Uint8Array, open: number): number {
  for (let i = open + 1; i < body.length; i++) {
    if (body[i] === BACKSLASH) i++;
    else if (body[i] === QUOTE) return i;
  }
  throw new InternalError("unterminated string in the request");
}

function nextSignificant(body: Uint8Array, from: number): number | undefined {
  for (let i = from; i < body.length; i++) if (body[i]! > 0x20) return body[i];
  return undefined;
}

/**
 * Nats-Msg-Id of an event: derived from exactly (actorId, version, id), so that JetStream's
 * duplicate window recognises a retry of that event and nothing else. A hash keeps it free of
 * the white space nats.js trims from header values, and of any length limit.
 */
export function messageId(actorId: string, version: number, id: string): string {
  return hash("sha256", JSON.stringify([actorId, version, id]), "base64url").slice(0, 32);
}

/** The id inside a stored event's body: the exact string the caller sent. */
export function storedEventId(json: Uint8Array): string {
  return (JSON.parse(decoder.decode(json)) as { id: string }).id;
}

/**
 * An event must fit in a page of its own when it is read back, and be a request the service
 * accepts as it is stored (so that an export can be imported): refused before anything is stored.
 */
export function checkStoredSize(json: Uint8Array, limit: number, path: string): void {
  if (json.length > limit) {
    throw new ValidationError(`${path} is ${json.length} bytes as stored (timestamp included), more than the ${limit} an event may have`, [
      { path, message: `is larger than ${limit} bytes as stored` },
    ]);
  }
}
