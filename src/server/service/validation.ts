import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { ENDPOINT_NAMES, ENDPOINTS, type EndpointName, type RequestOf } from "../../contract/endpoints.js";
import { type FieldError, ValidationError } from "../../contract/errors.js";
import { actorType, escapeToken } from "../../contract/subjects.js";
import { schemasDir } from "../paths.js";
import {
  BACKSLASH,
  CLOSE_BRACE,
  CLOSE_BRACKET,
  COLON,
  COMMA,
  DIGIT_0,
  DIGIT_9,
  DOT,
  EXPONENT,
  EXPONENT_UPPER,
  MINUS,
  OPEN_BRACE,
  OPEN_BRACKET,
  PLUS,
  QUOTE,
  SPACE,
} from "../store/json-bytes.js";

type Schema = Record<string, unknown>;

/** Every schema of schemas/, by file name. */
export function loadSchemas(): Map<string, Schema> {
  const dir = schemasDir();
  const schemas = new Map<string, Schema>();
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    schemas.set(file, JSON.parse(readFileSync(join(dir, file), "utf8")) as Schema);
  }
  return schemas;
}

/** One schema with every cross-file $ref inlined: self-contained, for endpoint metadata. */
export function bundleSchema(schemas: Map<string, Schema>, file: string): Schema {
  const resolve = (node: unknown, base: string): unknown => {
    if (Array.isArray(node)) return node.map((n) => resolve(n, base));
    if (node === null || typeof node !== "object") return node;
    const obj = node as Schema;
    if (typeof obj.$ref === "string") {
      const [refFile, pointer] = obj.$ref.split("#");
      const target = refFile || base;
      let resolved: unknown = schemas.get(target);
      if (resolved === undefined) throw new Error(`unresolved $ref ${obj.$ref} in ${base}`);
      for (const part of (pointer ?? "").split("/").filter(Boolean)) {
        resolved = (resolved as Schema)[part];
      }
      const { $ref: _ref, ...siblings } = obj;
      const inlined = resolve(strip(resolved as Schema), target) as Schema;
      return { ...inlined, ...(resolve(siblings, base) as Schema) };
    }
    return Object.fromEntries(
      Object.entries(obj)
        .filter(([k]) => k !== "tsType")
        .map(([k, v]) => [k, resolve(v, base)]),
    );
  };
  const schema = schemas.get(file);
  if (schema === undefined) throw new Error(`no schema ${file}`);
  return { $schema: schema.$schema, ...(resolve(strip(schema), file) as Schema) };
}

function strip(schema: Schema): Schema {
  const { $schema: _s, $id: _i, tsType: _t, definitions: _d, ...rest } = schema;
  return rest;
}

export interface ValidatorOptions {
  /** Deepest nesting of objects and arrays accepted. */
  maxDepth: number;
  /** Largest request body accepted, in bytes. */
  maxRequestBytes: number;
}

const MAX_FIELD_ERRORS = 10;

// An actor id becomes `<actorType>.<actorToken>` in subjects, escaped up to 12 characters per
// character. The longest protocol line the service then sends (a direct get on the snapshots
// stream, with its reply inbox) must stay within nats-server's max_control_line, 4096 by default,
// or the server closes the service's connection: this leaves room for everything else on that line.
export const MAX_ACTOR_SUBJECT_CHARS = 3584;

/** Parses and validates request bodies against schemas/, compiled once. */
export class RequestValidator {
  private readonly validators = new Map<EndpointName, ValidateFunction>();
  private readonly integerFields = new Map<EndpointName, IntegerFields>();
  // ignoreBOM: the decoder must not drop a byte order mark either, since the bytes are what is
  // stored (parse refuses one first, with a message that says so). fatal: invalid UTF-8 is
  // refused rather than read as U+FFFD. So the text parsed is exactly the bytes stored.
  private readonly decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  private readonly scanner: RawScanner;

  constructor(private readonly options: ValidatorOptions) {
    const ajv = new Ajv({ strict: true, allErrors: false });
    ajv.addFormat("date-time", isDateTime);
    ajv.addKeyword("tsType");
    const schemas = loadSchemas();
    for (const schema of schemas.values()) ajv.addSchema(schema);
    for (const endpoint of ENDPOINT_NAMES) {
      const file = ENDPOINTS[endpoint].requestSchema;
      const validate = ajv.getSchema(file);
      if (!validate) throw new Error(`schema ${file} did not compile`);
      this.validators.set(endpoint, validate);
      this.integerFields.set(endpoint, new IntegerFields(bundleSchema(schemas, file)));
    }
    this.scanner = new RawScanner(options.maxDepth);
  }

  /** The request body as a validated value, or a ValidationError that says what is wrong. */
  parse<E extends EndpointName>(endpoint: E, body: Uint8Array): RequestOf<E> {
    if (body.length === 0) throw new ValidationError("the request body is empty: expected a JSON object");
    if (body.length > this.options.maxRequestBytes) {
      throw new ValidationError(`the request is too large: ${body.length} bytes, at most ${this.options.maxRequestBytes} are accepted`);
    }
    if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) {
      throw new ValidationError(
        "the request body starts with a UTF-8 byte order mark (EF BB BF), which JSON does not allow: send it without",
      );
    }
    const raw = this.scanner.scan(body, this.integerFields.get(endpoint)!);
    let text: string;
    try {
      text = this.decoder.decode(body);
    } catch {
      throw new ValidationError("the request body is not valid UTF-8");
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      // The parser quotes the body around the error: the caller's own data, never the log's.
      throw new ValidationError(`the request body is not valid JSON: ${(err as Error).message}`, [], "the request body is not valid JSON");
    }
    const parsedKeys = checkStructure(value);
    const validate = this.validators.get(endpoint)!;
    if (!validate(value)) {
      const errors = (validate.errors ?? []).slice(0, MAX_FIELD_ERRORS).map(fieldError);
      const first = errors[0] ?? { path: "/", message: "is invalid" };
      throw new ValidationError(`invalid ${endpoint} request: ${first.path} ${first.message}`, errors);
    }
    // After the schema, so that a key given twice with a wrong last value is named by the schema.
    if (parsedKeys !== raw.keys) {
      throw new ValidationError("the request gives a key twice in one object: JSON readers disagree on which one counts", [
        { path: "/", message: "has a key twice in one object" },
      ]);
    }
    // After the schema too, which names a value that is no integer at all (1.5) or out of range (1e16).
    if (raw.notInteger) {
      const { path, literal } = raw.notInteger;
      throw new ValidationError(`${path} must be written as an integer (digits only, no fraction or exponent), got ${literal}`, [
        { path, message: "must be written as an integer (no fraction or exponent)" },
      ]);
    }
    for (const [path, actorId] of actorIds(value)) checkActorSubject(actorId, path);
    return value as RequestOf<E>;
  }
}

function fieldError(e: ErrorObject): FieldError {
  const params = e.params as Record<string, unknown>;
  if (e.keyword === "required") {
    return { path: `${e.instancePath}/${String(params.missingProperty)}`, message: "is required" };
  }
  if (e.keyword === "additionalProperties") {
    return { path: `${e.instancePath}/${String(params.additionalProperty)}`, message: "is not allowed" };
  }
  return { path: e.instancePath || "/", message: e.message ?? "is invalid" };
}

/** What the walk over a request's raw bytes found beside its depth. */
interface RawFacts {
  /** Object keys written (strings followed by a colon), so that a key given twice can be told from the parsed value. */
  keys: number;
  /** The first integer field written with a fraction or an exponent (1.0, 2e0), which JSON.parse cannot tell from 1 and 2. */
  notInteger?: { path: string; literal: string };
}

// The longest number literal quoted back in an error message.
const MAX_QUOTED_LITERAL = 40;

/**
 * One walk over a request's raw bytes, before JSON.parse builds anything. It refuses nesting
 * deeper than maxDepth: deep enough nesting overflows JSON.stringify's stack later, and parsing
 * 100,000 levels costs the event loop milliseconds per request that a flood would multiply. It
 * counts the object keys written. And it finds integer fields (the schema's `integer`s: versions,
 * limits) written as 1.0 or 2e0: JSON.parse and the schema see the integer, the bytes are stored
 * as sent, and readers with integer types (Go's int64) then cannot read the event. Brackets inside
 * strings do not count; multi-byte UTF-8 never contains these ASCII bytes. To name a field it
 * keeps, per nesting level, where the current key is written (objects) or the element's index
 * (arrays); the key's text is only read for a literal with a fraction or exponent at the depth of
 * an integer field, so a valid request costs a few stores per key and per element.
 */
class RawScanner {
  // Per nesting level, reused by every request (parse is synchronous): the byte offsets of the
  // current key's quotes in an object (keyStart -1 in an array), and the current index in an array.
  private readonly keyStart: Int32Array;
  private readonly keyEnd: Int32Array;
  private readonly index: Int32Array;
  private readonly decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  constructor(private readonly maxDepth: number) {
    this.keyStart = new Int32Array(maxDepth + 1);
    this.keyEnd = new Int32Array(maxDepth + 1);
    this.index = new Int32Array(maxDepth + 1);
  }

  scan(body: Uint8Array, integers: IntegerFields): RawFacts {
    const { keyStart, keyEnd, index } = this;
    const facts: RawFacts = { keys: 0 };
    let depth = 0;
    let inString = false;
    let afterString = false;
    let stringStart = 0;
    let stringEnd = 0;
    for (let i = 0; i < body.length; i++) {
      const byte = body[i]!;
      if (inString) {
        if (byte === BACKSLASH) i++;
        else if (byte === QUOTE) {
          inString = false;
          afterString = true;
          stringEnd = i;
        }
        continue;
      }
      if (byte <= SPACE) continue;
      if (afterString && byte === COLON) {
        facts.keys++;
        keyStart[depth] = stringStart;
        keyEnd[depth] = stringEnd;
      }
      afterString = false;
      if (byte === QUOTE) {
        inString = true;
        stringStart = i;
      } else if (byte === OPEN_BRACKET || byte === OPEN_BRACE) {
        if (++depth > this.maxDepth) {
          throw new ValidationError(`the request nests deeper than ${this.maxDepth} levels (at byte ${i})`);
        }
        keyStart[depth] = byte === OPEN_BRACKET ? -1 : 0;
        index[depth] = 0;
      } else if (byte === CLOSE_BRACKET || byte === CLOSE_BRACE) {
        depth--;
      } else if (byte === COMMA) {
        index[depth]++;
      } else if (byte === MINUS || (byte >= DIGIT_0 && byte <= DIGIT_9)) {
        const start = i;
        let integer = true;
        for (; i + 1 < body.length && isNumberByte(body[i + 1]!); i++) {
          const next = body[i + 1]!;
          if (next === DOT || next === EXPONENT || next === EXPONENT_UPPER) integer = false;
        }
        if (!integer && facts.notInteger === undefined && integers.atDepth(depth)) {
          const path = this.path(body, depth);
          if (path !== undefined && integers.has(path)) {
            const literal = this.decoder.decode(body.subarray(start, Math.min(i + 1, start + MAX_QUOTED_LITERAL)));
            facts.notInteger = { path: pointer(path), literal: i + 1 - start > MAX_QUOTED_LITERAL ? `${literal}...` : literal };
          }
        }
      }
    }
    return facts;
  }

  /** The path of the value being read at depth: keys and indexes; undefined for a key that is not valid JSON (JSON.parse refuses it later). */
  private path(body: Uint8Array, depth: number): (string | number)[] | undefined {
    const path: (string | number)[] = [];
    for (let level = 1; level <= depth; level++) {
      if (this.keyStart[level]! < 0) {
        path.push(this.index[level]!);
        continue;
      }
      try {
        path.push(JSON.parse(this.decoder.decode(body.subarray(this.keyStart[level], this.keyEnd[level]! + 1))) as string);
      } catch {
        return undefined;
      }
    }
    return path;
  }
}

/** The bytes a JSON number literal is written with. */
function isNumberByte(byte: number): boolean {
  return (
    (byte >= DIGIT_0 && byte <= DIGIT_9) || byte === DOT || byte === EXPONENT || byte === EXPONENT_UPPER || byte === MINUS || byte === PLUS
  );
}

/** An element of an array, in the paths of IntegerFields. */
const ITEM = Symbol("item");
/** Any key of an object (additionalProperties), in the paths of IntegerFields. */
const ANY_KEY = Symbol("any key");
type Step = string | typeof ITEM | typeof ANY_KEY;

/**
 * Where a request schema has `type: integer`: each field as a path of keys, array elements and
 * additional properties, read from the schema itself so that a new integer field is covered
 * without naming it here.
 */
class IntegerFields {
  private readonly paths: Step[][] = [];
  private readonly depths = new Set<number>();

  constructor(schema: Schema) {
    this.collect(schema, []);
    for (const path of this.paths) this.depths.add(path.length);
  }

  /** Whether some integer field is this deep: when none is, no key needs reading. */
  atDepth(depth: number): boolean {
    return this.depths.has(depth);
  }

  has(path: (string | number)[]): boolean {
    return this.paths.some(
      (fields) =>
        fields.length === path.length &&
        fields.every((step, i) =>
          step === ITEM ? typeof path[i] === "number" : step === ANY_KEY ? typeof path[i] === "string" : step === path[i],
        ),
    );
  }

  private collect(schema: Schema, path: Step[]): void {
    for (const combinator of ["oneOf", "anyOf", "allOf", "not", "if", "patternProperties"]) {
      // Not followed here: a schema that uses one must teach this walk first.
      if (combinator in schema) throw new Error(`request schemas may not use ${combinator} (at /${path.map(String).join("/")})`);
    }
    if (schema.type === "integer") this.paths.push(path);
    for (const [key, child] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) this.collect(child, [...path, key]);
    if (isSchema(schema.items)) this.collect(schema.items, [...path, ITEM]);
    if (isSchema(schema.additionalProperties)) this.collect(schema.additionalProperties, [...path, ANY_KEY]);
  }
}

function isSchema(value: unknown): value is Schema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function pointer(path: (string | number)[]): string {
  return path.length === 0 ? "/" : `/${path.map((p) => String(p).replace(/~/g, "~0").replace(/\//g, "~1")).join("/")}`;
}

/**
 * Refuses what JSON.parse accepts but would hurt later: "__proto__" keys, which some consumers
 * turn into prototype pollution, lone surrogates, and numbers too large for a double (1e400),
 * which no reader could get back as sent; and a key given twice in one object, since the request
 * is stored as sent and JSON readers disagree on which of the two counts (returns the keys it
 * saw, for parse to compare with those written). Iterative; RawScanner has bounded the depth.
 * The walk is needed for the other checks anyway, so it finds "__proto__" too: secure-json-parse
 * in front of it cost 8% more instructions per save (callgrind) and saved under 1% on appends.
 */
function checkStructure(root: unknown): number {
  let keys = 0;
  // Paths are only spelled out for the error: building one per node would cost every valid request.
  const stack: Frame[] = [{ node: root }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const { node } = frame;
    if (typeof node === "string") checkWellFormed(node, frame);
    if (typeof node === "number" && !Number.isFinite(node)) {
      const path = pathOf(frame);
      throw new ValidationError(`${path} is a number beyond what JSON readers can hold (it overflows to infinity)`, [
        { path, message: "overflows to infinity" },
      ]);
    }
    if (node === null || typeof node !== "object") continue;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) stack.push({ node: node[i], parent: frame, key: i });
      continue;
    }
    for (const key of Object.keys(node)) {
      keys++;
      const child: Frame = { node: (node as Record<string, unknown>)[key], parent: frame, key };
      checkWellFormed(key, child);
      if (key === "__proto__") {
        const path = pathOf(child);
        throw new ValidationError(`${path} is not allowed: "__proto__" keys are refused`, [
          { path, message: '"__proto__" keys are refused' },
        ]);
      }
      stack.push(child);
    }
  }
  return keys;
}

interface Frame {
  node: unknown;
  parent?: Frame;
  key?: string | number;
}

/** The JSON pointer of a node, from its chain of parents. */
function pathOf(frame: Frame): string {
  const keys: (string | number)[] = [];
  for (let f: Frame | undefined = frame; f?.parent; f = f.parent) keys.push(f.key!);
  return pointer(keys.reverse());
}

/**
 * JSON can spell a lone surrogate (`"\\ud800"`) that no UTF-8 text holds. Encoders turn each into
 * U+FFFD, so two different actor ids or event ids would share a subject or a Nats-Msg-Id.
 */
function checkWellFormed(text: string, at: Frame): void {
  if (!text.isWellFormed()) {
    const path = pathOf(at);
    throw new ValidationError(`${path} is not well-formed Unicode: it holds a lone surrogate`, [
      { path, message: "holds a lone surrogate" },
    ]);
  }
}

/** The request's actor ids with their paths: its own, or each of a transaction's. */
function actorIds(value: unknown): [string, string][] {
  const { actorId, appends } = value as { actorId?: string; appends?: { actorId: string }[] };
  if (appends) return appends.map((a, i) => [`/appends/${i}/actorId`, a.actorId]);
  return actorId === undefined ? [] : [["/actorId", actorId]];
}

function checkActorSubject(actorId: string, path: string): void {
  const length = escapeToken(actorType(actorId)).length + 1 + escapeToken(actorId).length;
  if (length > MAX_ACTOR_SUBJECT_CHARS) {
    throw new ValidationError(
      `${path} is too long for a subject once escaped: ${length} characters, at most ${MAX_ACTOR_SUBJECT_CHARS} ` +
        `(characters outside A-Z a-z 0-9 _ - take 3 per UTF-8 byte)`,
      [{ path, message: `escapes to more than ${MAX_ACTOR_SUBJECT_CHARS} subject characters` }],
    );
  }
}

// RFC 3339 section 5.6 `date-time`, exactly: "T" and "Z" in either case (the RFC allows lowercase),
// a numeric offset with its colon, any number of fraction digits. ASCII digits only (\d without
// the u flag). Not RFC 3339, so refused: a space for the "T", "+0100", "+01", no offset.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * Whether text is an RFC 3339 date-time with a real date and time. Second 60 is a leap second:
 * accepted where one can fall, the last minute of a month's last day in UTC (23:59:60Z, or
 * 15:59:60-08:00), without checking it against the leap seconds announced.
 */
function isDateTime(text: string): boolean {
  const m = DATE_TIME.exec(text);
  if (!m) return false;
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = [1, 2, 3, 4, 5, 6, 8, 9].map((i) => Number(m[i] ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  if (hour > 23 || minute > 59 || second > 60 || offsetHours > 23 || offsetMinutes > 59) return false;
  if (second < 60) return true;
  const offset = (m[7] === "-" ? -1 : 1) * (offsetHours * 60 + offsetMinutes);
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute - offset);
  return (
    utc.getUTCHours() === 23 && utc.getUTCMinutes() === 59 && utc.getUTCDate() === daysInMonth(utc.getUTCFullYear(), utc.getUTCMonth() + 1)
  );
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
