import fc from "fast-check";
import { type EndpointName, Endpoints } from "../../src/contract/endpoints.js";

// Request generators for the hostile-input tests. A request is built as a JSON tree whose objects
// keep their members in order (so duplicate and "__proto__" keys survive) and whose numbers may be
// raw text (so that 9007199254740993 or 1e400 reach the service as written).
// Valid requests are valid by construction; each mutation breaks exactly one thing and says where
// the service must point: a mutation that failed to break the request would be stored and fail
// the test, and one refused for another reason would fail the message check.

export class Raw {
  constructor(readonly text: string) {}
}

export class Obj {
  constructor(readonly members: [string, Json][]) {}
}

export type Json = null | boolean | number | string | Raw | Obj | Json[];

export function toJson(v: Json): string {
  if (v instanceof Raw) return v.text;
  if (v instanceof Obj) return `{${v.members.map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(",")}}`;
  if (Array.isArray(v)) return `[${v.map(toJson).join(",")}]`;
  return JSON.stringify(v);
}

export type Endpoint = EndpointName;

export const SUBJECTS: Record<Endpoint, string> = Endpoints;

export const ENDPOINTS = Object.keys(SUBJECTS) as Endpoint[];

/** A request that must be refused: its JSON text, and where (and optionally why) the reply must say it failed. */
export interface Hostile {
  text: string;
  mutation: string;
  /** The JSON pointer the message must name; undefined when the service refuses before parsing. */
  path?: string;
  says?: RegExp;
}

// ---- legal values -------------------------------------------------------------------------------

// Characters that are legal in ids and types but hostile elsewhere: subject tokens and wildcards,
// spaces, quotes, escapes, non-ASCII, astral, invisible and line-separator characters.
const LEGAL_CHARS = [..."aZ09-_.*> ~:/\\\"'$%é\u8ba2\u{1F600}\u00a0\u2028\u200b\u0085\ufeff"];
const legalChar = fc.constantFrom(...LEGAL_CHARS);
export const legalString = (minLength: number, maxLength: number) => fc.string({ unit: legalChar, minLength, maxLength });

// Keys that are legitimate data, including those that name Object.prototype members.
const dataKey = fc.oneof(
  fc.string({ unit: legalChar, maxLength: 8 }),
  fc.constantFrom("constructor", "prototype", "toString", "hasOwnProperty", "valueOf", "__defineGetter__", "", "__proto", "proto__"),
);

const scalar: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  legalString(0, 12),
  // beyond 2^53 and at the edge of doubles: legal data, read back as JavaScript numbers
  fc.constantFrom(new Raw("12345678901234567890"), new Raw("1e308"), new Raw("-0"), new Raw("9007199254740993")),
);

const { tree } = fc.letrec<{ tree: Json; node: Json }>((tie) => ({
  tree: fc.uniqueArray(fc.tuple(dataKey, tie("node")), { maxLength: 4, selector: ([k]) => k }).map((m) => new Obj(m)),
  node: fc.oneof({ maxDepth: 4, depthIdentifier: "json" }, scalar, fc.array(tie("node"), { maxLength: 3 }), tie("tree")),
}));
/** A JSON object as `data` or `state` may hold it: nested, with tricky keys and numbers. */
export const legalObject = tree as fc.Arbitrary<Obj>;

const legalMetadata = fc.uniqueArray(fc.tuple(dataKey, legalString(0, 12)), { maxLength: 3, selector: ([k]) => k }).map((m) => new Obj(m));

// Every RFC 3339 date-time is legal, beyond what toISOString writes: lowercase "t" and "z", offsets,
// long fractions, and leap seconds (23:59:60 in UTC on a month's last day).
const legalTimestamp = fc.oneof(
  fc
    .date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true })
    .map((d) => d.toISOString()),
  fc.constantFrom(
    "2016-12-31T23:59:60Z",
    "2016-12-31T15:59:60.5-08:00",
    "2024-01-01t10:00:00z",
    "2024-01-01T10:00:00.123456789012+05:30",
    "0000-01-01T00:00:00Z",
  ),
);

export const legalActorId = legalString(1, 40);

let generatedIds = 0;

const legalTag = legalString(1, 128);
const legalTags = fc.uniqueArray(legalTag, { maxLength: 3 });

/** A query item of types, tags or both, with the given tags arbitrary. */
const queryItem = (tags: fc.Arbitrary<string[] | null>): fc.Arbitrary<Obj> =>
  fc
    .record({ types: fc.option(fc.uniqueArray(legalString(1, 40), { minLength: 1, maxLength: 3 })), tags })
    .filter(({ types, tags }) => types !== null || tags !== null)
    .map(({ types, tags }) => {
      const members: [string, Json][] = [];
      if (types !== null) members.push(["types", types]);
      if (tags !== null) members.push(["tags", tags]);
      return new Obj(members);
    });

const query = (item: fc.Arbitrary<Obj>): fc.Arbitrary<Obj> =>
  fc.array(item, { minLength: 1, maxLength: 3 }).map((items) => new Obj([["items", items]]));

export const legalQuery = query(queryItem(fc.option(fc.uniqueArray(legalTag, { minLength: 1, maxLength: 3 }))));

// A condition that passes wherever it is sent: each item names a tag no event carries ("u" is not
// a legal character, so no generated tag has it; the counter keeps conditions apart). The write
// does not carry it either, so the store adds a guard message for it.
const passingCondition: fc.Arbitrary<Obj> = fc
  .record({
    failIfEventsMatch: query(queryItem(legalTags.map((tags) => [`unclaimed-${++generatedIds}`, ...tags]))),
    after: fc.option(fc.integer({ min: 0, max: 1_000_000 })),
  })
  .map(({ failIfEventsMatch, after }) => {
    const members: [string, Json][] = [["failIfEventsMatch", failIfEventsMatch]];
    if (after !== null) members.push(["after", after]);
    return new Obj(members);
  });

/** Sometimes a passing condition (null: none). */
const maybeCondition = fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, { arbitrary: passingCondition, weight: 1 });

/** obj with its condition, when there is one. */
const withCondition = (obj: Obj, condition: Obj | null) => (condition === null ? obj : new Obj([...obj.members, ["condition", condition]]));

function event(actorId: string, version: number): fc.Arbitrary<Obj> {
  return fc
    .record({
      // Ids are idempotency keys across all actors. fast-check's uuids lean towards a few extreme
      // values and repeat across cases, so a counter keeps every generated id apart.
      id: fc.tuple(legalString(1, 40), fc.uuid()).map(([text, uuid]) => `${text}${uuid}.${++generatedIds}`),
      eventType: legalString(1, 40),
      data: legalObject,
      metadata: fc.option(legalMetadata),
      tags: fc.option(legalTags, { freq: 2 }),
      timestamp: fc.option(legalTimestamp),
    })
    .map(({ id, eventType, data, metadata, tags, timestamp }) => {
      const members: [string, Json][] = [
        ["id", id],
        ["eventType", eventType],
        ["actorId", actorId],
        ["version", version],
        ["data", data],
      ];
      if (metadata) members.push(["metadata", metadata]);
      if (tags) members.push(["tags", tags]);
      if (timestamp) members.push(["timestamp", timestamp]);
      return new Obj(members);
    });
}

/** A valid request of each endpoint. */
export function validRequest(endpoint: Endpoint, actorId: fc.Arbitrary<string> = legalActorId): fc.Arbitrary<Obj> {
  const version = fc.integer({ min: 1, max: 1_000_000 });
  switch (endpoint) {
    case "save":
      return fc.tuple(actorId, version).chain(([a, v]) => event(a, v));
    case "append":
      return fc
        .tuple(actorId, version, fc.integer({ min: 1, max: 3 }))
        .chain(([a, v, n]) => fc.tuple(...Array.from({ length: n }, (_, i) => event(a, v + i))).map((events) => ({ a, events })))
        .filter(({ events }) => new Set(events.map((e) => e.members[0]![1])).size === events.length)
        .chain(({ a, events }) =>
          maybeCondition.map((condition) =>
            withCondition(
              new Obj([
                ["actorId", a],
                ["events", events],
              ]),
              condition,
            ),
          ),
        );
    case "transact":
      return fc
        .uniqueArray(actorId, { minLength: 1, maxLength: 2 })
        .chain((actors) =>
          fc.tuple(
            ...actors.map((a) =>
              event(a, 1).map(
                (e) =>
                  new Obj([
                    ["actorId", a],
                    ["events", [e]],
                  ]),
              ),
            ),
          ),
        )
        .filter((parts) => new Set(parts.map((p) => (p.members[1]![1] as Obj[])[0]!.members[0]![1])).size === parts.length)
        .chain((parts) => maybeCondition.map((condition) => withCondition(new Obj([["appends", parts]]), condition)));
    case "events":
      return fc
        .record({ a: actorId, from: fc.option(fc.integer({ min: 0, max: 1000 })), limit: fc.option(fc.integer({ min: 1, max: 10_000 })) })
        .map(({ a, from, limit }) => {
          const members: [string, Json][] = [["actorId", a]];
          if (from !== null) members.push(["fromVersion", from]);
          if (limit !== null) members.push(["limit", limit]);
          return new Obj(members);
        });
    case "version":
    case "snapshot_get":
      return actorId.map((a) => new Obj([["actorId", a]]));
    case "erase":
      return fc.record({ a: actorId, reason: fc.option(fc.constantFrom("customer request", "GDPR art. 17", "\u8ba2\u5355")) }).map(
        ({ a, reason }) =>
          new Obj(
            reason === null
              ? [["actorId", a]]
              : [
                  ["actorId", a],
                  ["reason", reason],
                ],
          ),
      );
    case "read":
      return fc
        .record({
          query: fc.option(legalQuery, { freq: 2 }),
          from: fc.option(fc.integer({ min: 0, max: 1000 })),
          limit: fc.option(fc.integer({ min: 1, max: 10_000 })),
          backwards: fc.option(fc.boolean()),
        })
        .map(({ query, from, limit, backwards }) => {
          const members: [string, Json][] = [];
          if (query !== null) members.push(["query", query]);
          if (from !== null) members.push(["from", from]);
          if (limit !== null) members.push(["limit", limit]);
          if (backwards !== null) members.push(["backwards", backwards]);
          return new Obj(members);
        });
    case "snapshot_save":
      return fc
        .record({ a: actorId, v: version, state: legalObject, timestamp: fc.option(legalTimestamp) })
        .map(({ a, v, state, timestamp }) => {
          const members: [string, Json][] = [
            ["actorId", a],
            ["version", v],
            ["state", state],
          ];
          if (timestamp) members.push(["timestamp", timestamp]);
          return new Obj(members);
        });
  }
}

// ---- invalid values, by the kind of field they replace ------------------------------------------

type Kind =
  | "id"
  | "eventType"
  | "actorId"
  | "version"
  | "fromVersion"
  | "limit"
  | "object"
  | "metadata"
  | "timestamp"
  | "events"
  | "appends"
  | "tags"
  | "tag"
  | "query"
  | "condition"
  | "boolean";

interface Field {
  key: string;
  kind: Kind;
  required: boolean;
}

const EVENT_FIELDS: Field[] = [
  { key: "id", kind: "id", required: true },
  { key: "eventType", kind: "eventType", required: true },
  { key: "actorId", kind: "actorId", required: true },
  { key: "version", kind: "version", required: true },
  { key: "data", kind: "object", required: true },
  { key: "metadata", kind: "metadata", required: false },
  { key: "tags", kind: "tags", required: false },
  { key: "timestamp", kind: "timestamp", required: false },
];

const FIELDS: Record<Endpoint, Field[]> = {
  save: EVENT_FIELDS,
  append: [
    { key: "actorId", kind: "actorId", required: true },
    { key: "events", kind: "events", required: true },
    { key: "condition", kind: "condition", required: false },
  ],
  transact: [
    { key: "appends", kind: "appends", required: true },
    { key: "condition", kind: "condition", required: false },
  ],
  events: [
    { key: "actorId", kind: "actorId", required: true },
    { key: "fromVersion", kind: "fromVersion", required: false },
    { key: "limit", kind: "limit", required: false },
  ],
  version: [{ key: "actorId", kind: "actorId", required: true }],
  read: [
    { key: "query", kind: "query", required: false },
    // a position: the same range as a version from which to read
    { key: "from", kind: "fromVersion", required: false },
    { key: "limit", kind: "limit", required: false },
    { key: "backwards", kind: "boolean", required: false },
  ],
  snapshot_save: [
    { key: "actorId", kind: "actorId", required: true },
    { key: "version", kind: "version", required: true },
    { key: "state", kind: "object", required: true },
    { key: "timestamp", kind: "timestamp", required: false },
  ],
  snapshot_get: [{ key: "actorId", kind: "actorId", required: true }],
  erase: [
    { key: "actorId", kind: "actorId", required: true },
    { key: "reason", kind: "eventType", required: false },
  ],
};

const MAX_LENGTH: Partial<Record<Kind, number>> = { id: 128, eventType: 256, actorId: 256, timestamp: 64, tag: 128 };

/** An invalid value and, relative to the field, where the error must point (default: the field). */
interface Bad {
  value: Json;
  what: string;
  at?: string;
  says?: RegExp;
  /** Refused on the raw bytes, before any field is known: the message cannot name one. */
  beforeParsing?: true;
}

const bad = (what: string, values: Json[], says?: RegExp): fc.Arbitrary<Bad> =>
  fc.constantFrom(...values).map((value) => ({ value, what, ...(says ? { says } : {}) }));

const notAString: Json[] = [0, 1, 1.5, true, false, null, [], ["a"], new Obj([]), new Obj([["a", "b"]])];
const notAnObject: Json[] = [null, true, 0, 1.5, "", "{}", [], [new Obj([])], new Raw("1e400")];

const CONTROL = fc.integer({ min: 0, max: 0x20 }).map((c) => String.fromCharCode(c === 0x20 ? 0x7f : c));
const LONE_SURROGATE = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

const inserted = (char: fc.Arbitrary<string>) => fc.tuple(legalString(0, 10), char, legalString(0, 10)).map(([a, c, b]) => a + c + b);

const emoji = (n: number) => "\u{1F600}".repeat(n);

function badString(kind: Kind): fc.Arbitrary<Bad> {
  const max = MAX_LENGTH[kind]!;
  const options: fc.Arbitrary<Bad>[] = [
    bad("wrong type", notAString),
    bad("empty", [""]),
    fc.integer({ min: max + 1, max: max + 64 }).map((n) => ({ value: "a".repeat(n), what: "too long" })),
    fc.integer({ min: 10_000, max: 200_000 }).map((n) => ({ value: "\u8ba2".repeat(n), what: "huge" })),
    inserted(CONTROL).map((value) => ({ value, what: "control character" })),
    inserted(LONE_SURROGATE).map((value) => ({ value, what: "lone surrogate", says: /lone surrogate/ })),
  ];
  if (kind === "actorId") {
    // at most 256 characters, but escaped into a subject longer than nats-server's control line
    options.push(
      fc.integer({ min: 50, max: 127 }).map((k) => ({
        value: `${emoji(k)}-${emoji(255 - k)}`,
        what: "escapes past the subject limit",
        says: /too long for a subject/,
      })),
    );
  }
  return fc.oneof(...options);
}

const nested = (depth: number, leaf: Json): Json => {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = new Obj([["a", v]]);
  return v;
};

function badValue(kind: Kind, actorId: string): fc.Arbitrary<Bad> {
  switch (kind) {
    case "id":
    case "eventType":
    case "actorId":
    case "tag":
      return badString(kind);
    case "boolean":
      return bad("wrong type", ["true", "false", 0, 1, null, [], [true], new Obj([])]);
    case "tags":
      return badTags();
    case "query":
      return badQuery();
    case "condition":
      return badCondition();
    case "version":
      return fc.oneof(
        bad("wrong type", ["1", true, null, [], [1], new Obj([]), 1.5, new Raw("1e-7")]),
        // the integer as JSON.parse sees it, but not written as one: readers with integer types cannot read it
        bad(
          "not an integer literal",
          [new Raw("1.0"), new Raw("2e0"), new Raw("1E0"), new Raw("10e-1"), new Raw("1.000")],
          /written as an integer/,
        ),
        bad("out of range", [
          0,
          -1,
          new Raw("-0"),
          9007199254740992,
          new Raw("9007199254740993"),
          new Raw("18446744073709551616"),
          new Raw("1e16"),
          new Raw("1e400"),
          new Raw("-1e400"),
        ]),
      );
    case "fromVersion":
      return fc.oneof(
        bad("wrong type", ["0", true, null, [], new Obj([]), 0.5]),
        bad("not an integer literal", [new Raw("0.0"), new Raw("0e0"), new Raw("1.0")], /written as an integer/),
        bad("out of range", [-1, 9007199254740992, new Raw("9007199254740993"), new Raw("1e400"), new Raw("-1e400")]),
      );
    case "limit":
      return fc.oneof(
        bad("wrong type", ["10", true, null, [], new Obj([]), 1.5]),
        bad("not an integer literal", [new Raw("10.0"), new Raw("1e1"), new Raw("1E+1")], /written as an integer/),
        bad("out of range", [0, -1, 10_001, 1_000_000, new Raw("9007199254740993"), new Raw("1e400")]),
      );
    case "object":
      return fc.oneof(
        bad("wrong type", notAnObject),
        fc.integer({ min: 0, max: 5 }).map((d) => ({
          value: nested(d, new Obj([["__proto__", new Obj([["polluted", true]])]])),
          what: "__proto__ key",
          says: /__proto__/,
        })),
        fc.integer({ min: 64, max: 400 }).map((d) => ({
          value: nested(d, 1),
          what: "too deep",
          says: /nests deeper than 64 levels/,
          beforeParsing: true as const,
        })),
        inserted(LONE_SURROGATE).map((k) => ({ value: new Obj([[k, 1]]), what: "lone surrogate key", says: /lone surrogate/ })),
      );
    case "metadata":
      return fc.oneof(
        bad("wrong type", [[], "x", 1, null, true]),
        bad("value not a string", [new Obj([["k", 1]]), new Obj([["k", null]]), new Obj([["k", new Obj([])]]), new Obj([["k", ["a"]]])]),
        bad("__proto__ key", [new Obj([["__proto__", "x"]])], /__proto__/),
      );
    case "timestamp":
      return fc.oneof(
        bad("wrong type", [0, 1700000000000, true, null, [], new Obj([])]),
        bad("not a date-time", [
          "",
          "yesterday",
          "2024-01-01",
          "2024-01-01T00:00:00",
          "2024-13-01T00:00:00Z",
          "2024-02-30T00:00:00Z",
          "2024-01-01T25:00:00Z",
          "2024-01-01 00:00:00Z ",
          // looser forms that ajv-formats' date-time takes, none of them RFC 3339
          "2024-01-01 10:00:00Z",
          "2024-01-01T10:00:00+0100",
          "2024-01-01T10:00:00+01",
          "2016-12-30T23:59:60Z",
          "\u0662\u0660\u0662\u0664-01-01T00:00:00Z",
        ]),
        bad("too long", [`2024-01-01T00:00:00.${"0".repeat(60)}Z`]),
      );
    case "events":
      return fc.oneof(
        bad("wrong type", [new Obj([]), "x", null, 1]),
        bad("empty", [[]]),
        bad("not events", [["x"], [null], [[]]], undefined).map((b) => ({ ...b, at: "/0" })),
        legalActorId
          .filter((other) => other !== actorId)
          .chain((other) => event(other, 1))
          .map((e) => ({ value: [e], what: "another actor's event", at: "/0/actorId", says: /must equal the actorId it is listed under/ })),
      );
    case "appends":
      return fc.oneof(
        bad("wrong type", [new Obj([]), "x", null, 1]),
        bad("empty", [[]]),
        bad("not actors' events", [["x"], [null], [[]]], undefined).map((b) => ({ ...b, at: "/0" })),
        bad(
          "events not a list",
          [
            [
              new Obj([
                ["actorId", actorId],
                ["events", "x"],
              ]),
            ],
          ],
          undefined,
        ).map((b) => ({ ...b, at: "/0/events" })),
        legalActorId
          .filter((other) => other !== actorId)
          .chain((other) => event(other, 1))
          .map((e) => ({
            value: [
              new Obj([
                ["actorId", actorId],
                ["events", [e]],
              ]),
            ],
            what: "another actor's event",
            at: "/0/events/0/actorId",
            says: /must equal the actorId it is listed under/,
          })),
      );
  }
}

/** A list of legal values with one bad value put at some index, the bad value's path below the list's. */
function oneBadIn(legal: fc.Arbitrary<Json[]>, broken: fc.Arbitrary<Bad>, what: string): fc.Arbitrary<Bad> {
  return fc.tuple(legal, broken, fc.nat()).map(([list, b, n]) => {
    const i = n % (list.length + 1);
    return { ...b, value: [...list.slice(0, i), b.value, ...list.slice(i)], what: `${what} ${i}: ${b.what}`, at: `/${i}${b.at ?? ""}` };
  });
}

/** A bad value inside an object that is otherwise legal: the object, and the path to the bad value. */
function inObject(members: [string, Json][], key: string, b: Bad, what: string): Bad {
  return { ...b, value: new Obj([...members, [key, b.value]]), what: `${what}: ${b.what}`, at: `/${escapePointer(key)}${b.at ?? ""}` };
}

const distinctStrings = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** An event's tags: 0..16 distinct strings, each a legal tag. */
function badTags(): fc.Arbitrary<Bad> {
  return fc.oneof(
    bad("wrong type", ["a", 1, null, true, new Obj([]), new Obj([["0", "a"]])]),
    oneBadIn(legalTags, badValue("tag", ""), "tag"),
    legalTag.map((t) => ({ value: [t, t], what: "the same tag twice", says: /duplicate/ })),
    fc.integer({ min: 17, max: 40 }).map((n) => ({ value: distinctStrings("t", n), what: `${n} tags`, says: /more than 16/ })),
  );
}

/** A query: 1..16 items, each types, tags or both (1..16 of each), nothing else. */
function badQuery(): fc.Arbitrary<Bad> {
  const legalItems = legalQuery.map((q) => q.members[0]![1] as Obj[]);
  const item = legalQuery.map((q) => (q.members[0]![1] as Obj[])[0]!);
  const badItem: fc.Arbitrary<Bad> = fc.oneof(
    bad("not an object", [null, "x", 1, [], [new Obj([["types", ["T"]]])]]),
    bad("empty", [new Obj([])], /fewer than 1 properties/),
    fc.tuple(item, fc.constantFrom(...EXTRA_KEYS, "type", "tag", "Types"), scalar).map(([it, key, v]) => ({
      value: new Obj([...it.members.filter(([k]) => k !== key), [key, v]]),
      what: `unknown field ${JSON.stringify(key)}`,
      at: `/${escapePointer(key)}`,
      says: /is not allowed/,
    })),
    ...(["types", "tags"] as const).flatMap((field) => [
      bad("wrong type", ["T", 1, null, new Obj([])]).map((b) => inObject([], field, b, field)),
      bad("empty", [[]]).map((b) => inObject([], field, b, field)),
      fc
        .integer({ min: 17, max: 40 })
        .map((n) => inObject([], field, { value: distinctStrings("x", n), what: `${n} entries`, says: /more than 16/ }, field)),
      oneBadIn(fc.uniqueArray(legalString(1, 40), { maxLength: 3 }), badValue(field === "types" ? "eventType" : "tag", ""), "entry").map(
        (b) => inObject([], field, b, field),
      ),
    ]),
  );
  return fc.oneof(
    bad("wrong type", notAnObject),
    bad("no items", [new Obj([])], /is required/).map((b) => ({ ...b, at: "/items" })),
    fc
      .tuple(legalItems, fc.constantFrom(...EXTRA_KEYS), scalar)
      .map(([items, key, v]) => inObject([["items", items]], key, { value: v, what: "unknown field", says: /is not allowed/ }, key)),
    bad("items not a list", [new Obj([]), "x", null, 1]).map((b) => inObject([], "items", b, "items")),
    bad("no item", [[]]).map((b) => inObject([], "items", b, "items")),
    fc
      .integer({ min: 17, max: 40 })
      .chain((n) => fc.array(item, { minLength: n, maxLength: n }))
      .map((items) => inObject([], "items", { value: items, what: `${items.length} items`, says: /more than 16/ }, "items")),
    {
      arbitrary: oneBadIn(
        legalItems.map((items) => items.slice(1)),
        badItem,
        "item",
      ).map((b) => inObject([], "items", b, "items")),
      weight: 4,
    },
  );
}

/** A condition: failIfEventsMatch, a legal query, and optionally after, a position or 0. */
function badCondition(): fc.Arbitrary<Bad> {
  return fc.oneof(
    bad("wrong type", notAnObject),
    bad("no query", [new Obj([["after", 0]])], /is required/).map((b) => ({ ...b, at: "/failIfEventsMatch" })),
    fc
      .tuple(legalQuery, fc.constantFrom(...EXTRA_KEYS, "failIfEventsMatched", "query", "before"), scalar)
      .map(([q, key, v]) => inObject([["failIfEventsMatch", q]], key, { value: v, what: "unknown field", says: /is not allowed/ }, key)),
    fc.tuple(legalQuery, badValue("fromVersion", "")).map(([q, b]) => inObject([["failIfEventsMatch", q]], "after", b, "after")),
    badQuery().map((b) => inObject([], "failIfEventsMatch", b, "failIfEventsMatch")),
  );
}

// ---- mutations ----------------------------------------------------------------------------------

const escapePointer = (key: string) => key.replace(/~/g, "~0").replace(/\//g, "~1");

function replaceMember(obj: Obj, key: string, value: Json): Obj {
  const members = obj.members.filter(([k]) => k !== key);
  members.push([key, value]);
  return new Obj(members);
}

/** One field of obj broken (its value replaced, removed or duplicated with a bad last copy). */
interface Broken {
  obj: Obj;
  mutation: string;
  path?: string;
  says?: RegExp;
}

function breakField(obj: Obj, fields: Field[], base: string, actorId: string): fc.Arbitrary<Broken> {
  return fc.constantFrom(...fields).chain((field) => {
    const path = `${base}/${field.key}`;
    const pointTo = (b: Bad) => ({ ...(b.beforeParsing ? {} : { path: path + (b.at ?? "") }), ...(b.says ? { says: b.says } : {}) });
    const replaced = badValue(field.kind, actorId).map((b) => ({
      obj: replaceMember(obj, field.key, b.value),
      mutation: `${field.key}: ${b.what}`,
      ...pointTo(b),
    }));
    const options = [replaced];
    if (field.required) {
      options.push(
        fc.constant({
          obj: new Obj(obj.members.filter(([k]) => k !== field.key)),
          mutation: `${field.key}: missing`,
          path,
          says: /is required/,
        }),
      );
    }
    if (obj.members.some(([k]) => k === field.key)) {
      // Requests are stored as sent, and readers disagree on which of two equal keys counts: a key
      // given twice is refused, whatever its last copy (a copy the schema refuses is named by it).
      options.push(
        badValue(field.kind, actorId).map((b) => ({
          obj: new Obj([...obj.members, [field.key, b.value]]),
          mutation: `${field.key}: duplicated, last copy ${b.what}`,
          ...(b.beforeParsing ? pointTo(b) : { says: new RegExp(`key twice|${escapeRegExp(path + (b.at ?? ""))}`) }),
        })),
      );
    }
    return fc.oneof(...options);
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const EXTRA_KEYS = ["extra", "constructor", "prototype", "toString", "hasOwnProperty", "ACTORID", "actorId ", "$ref", "type", "\u8ba2"];

/** A valid request of the endpoint with exactly one thing wrong. */
export function hostileRequest(endpoint: Endpoint): fc.Arbitrary<Hostile> {
  return validRequest(endpoint).chain((valid) => {
    // A transaction's actor is its first part's. A read names none, and none of its fields needs one.
    const first = valid.members.find(([k]) => k === "appends")?.[1] as Obj[] | undefined;
    const actorId = (first ? first[0]!.members[0]![1] : (valid.members.find(([k]) => k === "actorId")?.[1] ?? "")) as string;
    const topLevel = fc.oneof(
      { arbitrary: breakField(valid, FIELDS[endpoint], "", actorId), weight: 8 },
      fc.constantFrom(...EXTRA_KEYS).chain((key) =>
        scalar.map((value) => ({
          obj: new Obj([...valid.members, [key, value]]),
          mutation: `extra key ${JSON.stringify(key)}`,
          path: `/${escapePointer(key)}`,
          says: /is not allowed/,
        })),
      ),
      fc.constant({
        obj: new Obj([["__proto__", new Obj([["polluted", true]])], ...valid.members]),
        mutation: "__proto__ key",
        path: "/__proto__",
        says: /__proto__/,
      }),
    );
    const mutated = endpoint === "append" ? fc.oneof(topLevel, breakEvents(valid, actorId)) : topLevel;
    const asText = mutated.map(({ obj, ...expected }): Hostile => ({ text: toJson(obj), ...expected }));
    const notAnObjectRoot = fc
      .constantFrom<[string, (t: string) => string]>(
        ["wrapped in an array", (t) => `[${t}]`],
        ["as a JSON string", (t) => JSON.stringify(t)],
        ["replaced by null", () => "null"],
        ["replaced by a number", () => "42"],
      )
      .map(([mutation, wrap]) => ({ text: wrap(toJson(valid)), mutation, path: "/", says: /must be object/ }));
    return fc.oneof({ arbitrary: asText, weight: 12 }, { arbitrary: notAnObjectRoot, weight: 1 });
  });
}

/** append: one event of the batch broken, or the batch's own rules (consecutive versions, unique ids). */
function breakEvents(valid: Obj, actorId: string) {
  const events = valid.members.find(([k]) => k === "events")![1] as Obj[];
  const withEvents = (list: Json[]) => replaceMember(valid, "events", list);
  const inner = fc.integer({ min: 0, max: events.length - 1 }).chain((i) =>
    breakField(
      events[i]!,
      EVENT_FIELDS.filter((f) => f.key !== "actorId"),
      `/events/${i}`,
      actorId,
    ).map((b) => ({
      ...b,
      obj: withEvents(events.map((e, j) => (j === i ? b.obj : e))),
    })),
  );
  const first = events[0]!;
  const firstVersion = first.members.find(([k]) => k === "version")![1] as number;
  const gap = fc.constant({
    obj: withEvents([first, replaceMember(replaceMember(first, "version", firstVersion + 2), "id", `${String(first.members[0]![1])}+gap`)]),
    mutation: "events: versions not consecutive",
    path: "/events/1/version",
    says: /consecutive/,
  });
  const sameId = fc.constant({
    obj: withEvents([first, replaceMember(first, "version", firstVersion + 1)]),
    mutation: "events: the same id twice",
    path: "/events",
    says: /same id/,
  });
  return fc.oneof({ arbitrary: inner, weight: 6 }, gap, sameId);
}
