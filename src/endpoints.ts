import { NotFoundError } from "./errors.js";
import type {
  AppendRequest,
  AppendResponse,
  EraseRequest,
  EraseResponse,
  EventsRequest,
  EventsResponse,
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
} from "./schemas/types.js";
import { objectsUnder } from "./store/encode.js";
import { type EventStore, encodePage, type WriteCounters } from "./store/store.js";

// Every endpoint of the service, once. The service registers and serves what this table says,
// the validator checks each request against its schema, the client sends to its subject with its
// types, the CLI offers its command, and the tests hold asyncapi.yaml and deploy/permissions.conf
// to it. A new endpoint is one entry here plus the store operation it calls.

/** What a store operation is served with beside the request: the same for every request. */
export interface ServeDeps {
  readonly store: EventStore;
  /** An events reply must fit in this many bytes: the connection's max_payload. */
  readonly maxReplyBytes: number;
  /** An events reply carries at most this many events, whatever `limit` asks. */
  readonly maxReadEvents: number;
}

export interface Endpoint<Request, Response> {
  /** Where callers send the request; the endpoint's name is its key in the table. */
  readonly subject: string;
  /** File names in schemas/: the request is validated by the first, both are the $SRV metadata. */
  readonly requestSchema: string;
  readonly responseSchema: string;
  /**
   * The store operation for a validated request (`body`: the request as sent, which the stores
   * keep as it is). Answers the reply, or the reply's JSON when it is spliced from stored bytes.
   */
  readonly serve: (request: Request, body: Uint8Array, deps: ServeDeps) => Promise<Response | Uint8Array>;
  /** The store's counters of this write, reported in the endpoint's $SRV.STATS data. */
  readonly counters?: keyof WriteCounters;
  /** The nats-eventstore command that sends it; none for an endpoint the CLI does not offer. */
  readonly command?: CommandSpec;
}

/** How the command line offers an endpoint: `nats-eventstore <words> <arguments> [flags]`. */
export interface CommandSpec {
  /** "version", or "snapshot get" for one action of a command with several. */
  readonly words: string;
  /** The request: one JSON object (an argument, or - for stdin), named for messages; or one argument per field. */
  readonly input: { readonly json: string } | { readonly fields: readonly string[] };
  /** Integer flags and the request field each one fills. */
  readonly flags?: Readonly<Record<string, string>>;
  /** "events": the reply is a page; the command prints every event of every page. Else it prints the reply. */
  readonly output?: "events";
  /** One line for the usage text. */
  readonly summary: string;
}

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
    serve: (event, body, { store }) => store.save(event, body),
    counters: "save",
    command: { words: "save", input: { json: "event" }, summary: "store one event (JSON argument, or - for stdin)" },
  }),
  append: endpoint<AppendRequest, AppendResponse>({
    subject: "eventstore.append",
    requestSchema: "append.request.json",
    responseSchema: "append.response.json",
    serve: (req, body, { store }) => store.append(req.actorId, req.events, objectsUnder(body, "events")),
    counters: "append",
  }),
  transact: endpoint<TransactRequest, TransactResponse>({
    subject: "eventstore.transact",
    requestSchema: "transact.request.json",
    responseSchema: "transact.response.json",
    serve: (req, body, { store }) => {
      const appends = objectsUnder(body, "appends");
      return store.transact(
        req.appends,
        appends.map((part) => objectsUnder(part, "events")),
      );
    },
    counters: "transact",
    command: { words: "transact", input: { json: "transaction" }, summary: "store several actors' events, all or none ({appends: [...]})" },
  }),
  events: endpoint<EventsRequest, EventsResponse>({
    subject: "eventstore.events",
    requestSchema: "events.request.json",
    responseSchema: "events.response.json",
    async serve(req, _body, { store, maxReplyBytes, maxReadEvents }) {
      const page = await store.events(req.actorId, {
        fromVersion: req.fromVersion,
        limit: Math.min(req.limit ?? maxReadEvents, maxReadEvents),
        maxBytes: maxReplyBytes,
      });
      return encodePage(page);
    },
    command: {
      words: "events",
      input: { fields: ["actorId"] },
      flags: { from: "fromVersion" },
      output: "events",
      summary: "an actor's events, every page, after version N (default 0)",
    },
  }),
  version: endpoint<VersionRequest, VersionResponse>({
    subject: "eventstore.version",
    requestSchema: "version.request.json",
    responseSchema: "version.response.json",
    serve: (req, _body, { store }) => store.versionInfo(req.actorId),
    command: { words: "version", input: { fields: ["actorId"] }, summary: "an actor's latest version (0 when it has none)" },
  }),
  snapshot_save: endpoint<SnapshotSaveRequest, SnapshotSaveResponse>({
    subject: "eventstore.snapshot.save",
    requestSchema: "snapshot_save.request.json",
    responseSchema: "snapshot_save.response.json",
    serve: (snapshot, body, { store }) => store.saveSnapshot(snapshot, body),
    counters: "saveSnapshot",
    command: { words: "snapshot save", input: { json: "snapshot" }, summary: "store a snapshot {actorId, version, state}" },
  }),
  snapshot_get: endpoint<SnapshotGetRequest, SnapshotGetResponse>({
    subject: "eventstore.snapshot.get",
    requestSchema: "snapshot_get.request.json",
    responseSchema: "snapshot_get.response.json",
    async serve(req, _body, { store }) {
      const stored = await store.getSnapshot(req.actorId);
      if (!stored) throw new NotFoundError(`no snapshot for actor ${JSON.stringify(req.actorId)}`);
      return stored.json;
    },
    command: { words: "snapshot get", input: { fields: ["actorId"] }, summary: "an actor's latest snapshot" },
  }),
  erase: endpoint<EraseRequest, EraseResponse>({
    subject: "eventstore.erase",
    requestSchema: "erase.request.json",
    responseSchema: "erase.response.json",
    serve: (req, _body, { store }) => store.erase(req.actorId, req.reason),
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
