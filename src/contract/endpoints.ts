import type {
  AppendRequest,
  AppendResponse,
  EraseRequest,
  EraseResponse,
  EventsRequest,
  EventsResponse,
  ReadRequest,
  ReadResponse,
  SaveRequest,
  SaveResponse,
  SnapshotGetRequest,
  SnapshotGetResponse,
  SnapshotSaveRequest,
  SnapshotSaveResponse,
  TransactRequest,
  TransactResponse,
  VersionRequest,
  VersionResponse,
} from "./types.js";

// Every endpoint of the service, once. The service registers what this table says and serves
// each entry with its store operation (src/service/operations.ts), the validator checks each
// request against its schema, the client sends to its subject with its types, the CLI offers its
// command, and the tests hold asyncapi.yaml and deploy/permissions.conf to it. A new endpoint is
// one entry here plus the store operation it calls.

/** The micro service name every eventstore replica registers. */
export const SERVICE_NAME = "eventstore";

export interface Endpoint<Request, Response> {
  /** Where callers send the request; the endpoint's name is its key in the table. */
  readonly subject: string;
  /** File names in schemas/: the request is validated by the first, both are the $SRV metadata. */
  readonly requestSchema: string;
  readonly responseSchema: string;
  /** The nats-eventstore command that sends it; none for an endpoint the CLI does not offer. */
  readonly command?: CommandSpec;
  /** Never set: ties the entry to its request and reply types, which RequestOf and ResponseOf read. */
  readonly types?: { readonly request: Request; readonly response: Response };
}

/** How the command line offers an endpoint: `nats-eventstore <words> <arguments> [flags]`. */
export interface CommandSpec {
  /** "version", or "snapshot get" for one action of a command with several. */
  readonly words: string;
  /** The request: one JSON object (an argument, or - for stdin), named for messages; or one argument per field. */
  readonly input: { readonly json: string } | { readonly fields: readonly string[] };
  /** The command's flags, each by name (--name) with the request field it fills. */
  readonly flags?: Readonly<Record<string, FlagSpec>>;
  /**
   * The reply is a page and the command prints every event of every page: of an actor ("events"),
   * or of the log with their positions ("log"). Else it prints the reply.
   */
  readonly output?: "events" | "log";
  /** One line for the usage text. */
  readonly summary: string;
}

/** How a flag fills the request. */
export type FlagSpec =
  /** An integer >= min (default 0). */
  | { readonly kind: "integer"; readonly field: string; readonly min?: number }
  /** No value: given, the field is true. */
  | { readonly kind: "boolean"; readonly field: string }
  /**
   * Repeatable: its values are the `field` list of the request's query's one item, so that the
   * query flags together ask `{query: {items: [{types, tags}]}}`; none given: no query.
   */
  | { readonly kind: "queryItem"; readonly field: "types" | "tags" };

/** An entry with its request and reply types named once, for everything that reads the table. */
function endpoint<Request, Response>(spec: Endpoint<Request, Response>): Endpoint<Request, Response> {
  return spec;
}

// The order is the order of $SRV.INFO's endpoints and of the usage text.
const TABLE = Object.freeze({
  save: endpoint<SaveRequest, SaveResponse>({
    subject: "eventstore.save",
    requestSchema: "save.request.json",
    responseSchema: "save.response.json",
    command: { words: "save", input: { json: "event" }, summary: "store one event (JSON argument, or - for stdin)" },
  }),
  append: endpoint<AppendRequest, AppendResponse>({
    subject: "eventstore.append",
    requestSchema: "append.request.json",
    responseSchema: "append.response.json",
  }),
  transact: endpoint<TransactRequest, TransactResponse>({
    subject: "eventstore.transact",
    requestSchema: "transact.request.json",
    responseSchema: "transact.response.json",
    command: { words: "transact", input: { json: "transaction" }, summary: "store several actors' events, all or none ({appends: [...]})" },
  }),
  events: endpoint<EventsRequest, EventsResponse>({
    subject: "eventstore.events",
    requestSchema: "events.request.json",
    responseSchema: "events.response.json",
    command: {
      words: "events",
      input: { fields: ["actorId"] },
      flags: { from: { kind: "integer", field: "fromVersion" } },
      output: "events",
      summary: "an actor's events, every page, after version N (default 0)",
    },
  }),
  version: endpoint<VersionRequest, VersionResponse>({
    subject: "eventstore.version",
    requestSchema: "version.request.json",
    responseSchema: "version.response.json",
    command: { words: "version", input: { fields: ["actorId"] }, summary: "an actor's latest version (0 when it has none)" },
  }),
  snapshot_save: endpoint<SnapshotSaveRequest, SnapshotSaveResponse>({
    subject: "eventstore.snapshot.save",
    requestSchema: "snapshot_save.request.json",
    responseSchema: "snapshot_save.response.json",
    command: { words: "snapshot save", input: { json: "snapshot" }, summary: "store a snapshot {actorId, version, state}" },
  }),
  snapshot_get: endpoint<SnapshotGetRequest, SnapshotGetResponse>({
    subject: "eventstore.snapshot.get",
    requestSchema: "snapshot_get.request.json",
    responseSchema: "snapshot_get.response.json",
    command: { words: "snapshot get", input: { fields: ["actorId"] }, summary: "an actor's latest snapshot" },
  }),
  erase: endpoint<EraseRequest, EraseResponse>({
    subject: "eventstore.erase",
    requestSchema: "erase.request.json",
    responseSchema: "erase.response.json",
  }),
  read: endpoint<ReadRequest, ReadResponse>({
    subject: "eventstore.read",
    requestSchema: "read.request.json",
    responseSchema: "read.response.json",
    command: {
      words: "read",
      input: { fields: [] },
      flags: {
        type: { kind: "queryItem", field: "types" },
        tag: { kind: "queryItem", field: "tags" },
        from: { kind: "integer", field: "from" },
        backwards: { kind: "boolean", field: "backwards" },
        limit: { kind: "integer", field: "limit", min: 1 },
      },
      output: "log",
      summary:
        "the whole log's events, every page, as {position, event}; the --type and --tag given make one query item: any of the types, all of the tags; --limit N: at most N in all",
    },
  }),
});

type Table = typeof TABLE;

export type EndpointName = keyof Table;
export type RequestOf<E extends EndpointName> = Table[E] extends Endpoint<infer Request, infer _> ? Request : never;
export type ResponseOf<E extends EndpointName> = Table[E] extends Endpoint<infer _, infer Response> ? Response : never;

/**
 * THE endpoint table. Typed per name, so that code generic over the endpoints (the handler, the
 * client's request) keeps each endpoint's request and reply types together.
 */
export const ENDPOINTS: { readonly [E in EndpointName]: Endpoint<RequestOf<E>, ResponseOf<E>> } = TABLE;

/** The endpoint names, in the table's order. */
export const ENDPOINT_NAMES = Object.freeze(Object.keys(ENDPOINTS) as EndpointName[]);

/** Endpoint names and the subjects callers send requests to, for callers that use NATS directly. */
export const Endpoints: Readonly<Record<EndpointName, string>> = Object.freeze(
  Object.fromEntries(ENDPOINT_NAMES.map((name) => [name, ENDPOINTS[name].subject])) as Record<EndpointName, string>,
);
