import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { ENDPOINT_NAMES, ENDPOINTS, type EndpointName, type RequestOf } from "./endpoints.js";
import { type FieldError, ValidationError } from "./errors.js";
import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COLON, OPEN_BRACE, OPEN_BRACKET, QUOTE, SPACE } from "./json-bytes.js";
import { schemasDir } from "./paths.js";
import { actorType, escapeToken } from "./subjects.js";

// ajv-formats is CommonJS; its default export arrives one level down under NodeNext.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

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
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });

  constructor(private readonly options: ValidatorOptions) {
    const ajv = new Ajv({ strict: true, allErrors: false });
    addFormats(ajv, ["date-time"]);
    ajv.addKeyword("tsType");
    for (const schema of loadSchemas().values()) ajv.addSchema(schema);
    for (const endpoint of ENDPOINT_NAMES) {
      const file = ENDPOINTS[endpoint].requestSchema;
      const validate = ajv.getSchema(file);
      if (!validate) throw new Error(`schema ${file} did not compile`);
      this.validators.set(endpoint, validate);
    }
  }

  /** The request body as a validated value, or a ValidationError that says what is wrong. */
  parse<E extends EndpointName>(endpoint: E, body: Uint8Array): RequestOf<E> {
    if (body.length === 0) throw new ValidationError("the request body is empty: expected a JSON object");
    if (body.length > this.options.maxRequestBytes) {
      throw new ValidationError(`the request is too large: ${body.length} bytes, at most ${this.options.maxRequestBytes} are accepted`);
    }
    const keys = checkDepth(body, this.options.maxDepth);
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
    if (parsedKeys !== keys) {
      throw new ValidationError("the request gives a key twice in one object: JSON readers disagree on which one counts", [
        { path: "/", message: "has a key twice in one object" },
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

/**
 * Refuses nesting deeper than maxDepth on the raw bytes, before JSON.parse builds it: deep enough
 * nesting overflows JSON.stringify's stack later, and parsing 100,000 levels costs the event loop
 * milliseconds per request that a flood would multiply. Brackets inside strings do not count;
 * multi-byte UTF-8 never contains these ASCII bytes. Returns the number of object keys written
 * (strings followed by a colon), so that a key given twice can be told from the parsed value.
 */
function checkDepth(body: Uint8Array, maxDepth: number): number {
  let depth = 0;
  let inString = false;
  let afterString = false;
  let keys = 0;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i]!;
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) {
        inString = false;
        afterString = true;
      }
      continue;
    }
    if (byte <= SPACE) continue;
    if (afterString && byte === COLON) keys++;
    afterString = false;
    if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_BRACKET || byte === OPEN_BRACE) {
      if (++depth > maxDepth) {
        throw new ValidationError(`the request nests deeper than ${maxDepth} levels (at byte ${i})`);
      }
    } else if (byte === CLOSE_BRACKET || byte === CLOSE_BRACE) {
      depth--;
    }
  }
  return keys;
}

/**
 * Refuses what JSON.parse accepts but would hurt later: "__proto__" keys, which some consumers
 * turn into prototype pollution, lone surrogates, and numbers too large for a double (1e400),
 * which no reader could get back as sent; and a key given twice in one object, since the request
 * is stored as sent and JSON readers disagree on which of the two counts (returns the keys it
 * saw, for parse to compare with those written). Iterative; checkDepth has bounded the depth.
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
  const parts: string[] = [];
  for (let f: Frame | undefined = frame; f?.parent; f = f.parent) {
    parts.push(String(f.key).replace(/~/g, "~0").replace(/\//g, "~1"));
  }
  return parts.length === 0 ? "/" : `/${parts.reverse().join("/")}`;
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
