import type { EndpointName, RequestOf, ResponseOf } from "../../contract/endpoints.js";
import { NotFoundError } from "../../contract/errors.js";
import { objectsUnder } from "../store/encode.js";
import { type EventStore, encodeLogPage, encodePage, type WriteCounters } from "../store/event-store.js";

// What the service does for each endpoint of the table (src/contract/endpoints.ts): the store
// operation it calls, and the store's counters it reports. Typed per endpoint name, so that an
// endpoint added to the table without its operation does not compile.

/** What a store operation is served with beside the request: the same for every request. */
export interface ServeDeps {
  readonly store: EventStore;
  /** An events reply must fit in this many bytes: the connection's max_payload. */
  readonly maxReplyBytes: number;
  /** An events reply carries at most this many events, whatever `limit` asks. */
  readonly maxReadEvents: number;
}

export interface Operation<Request, Response> {
  /**
   * The store operation for a validated request (`body`: the request as sent, which the stores
   * keep as it is). Answers the reply, or the reply's JSON when it is spliced from stored bytes.
   */
  readonly serve: (request: Request, body: Uint8Array, deps: ServeDeps) => Promise<Response | Uint8Array>;
  /** The store's counters of this write, reported in the endpoint's $SRV.STATS data. */
  readonly counters?: keyof WriteCounters;
}

export const OPERATIONS: { readonly [E in EndpointName]: Operation<RequestOf<E>, ResponseOf<E>> } = Object.freeze({
  save: { serve: (event, body, { store }) => store.save(event, body), counters: "save" },
  append: {
    serve: (req, body, { store }) => store.append(req.actorId, req.events, objectsUnder(body, "events"), req.condition),
    counters: "append",
  },
  transact: {
    serve: (req, body, { store }) => {
      const appends = objectsUnder(body, "appends");
      return store.transact(
        req.appends,
        appends.map((part) => objectsUnder(part, "events")),
        req.condition,
      );
    },
    counters: "transact",
  },
  events: {
    async serve(req, _body, { store, maxReplyBytes, maxReadEvents }) {
      const page = await store.events(req.actorId, {
        fromVersion: req.fromVersion,
        limit: Math.min(req.limit ?? maxReadEvents, maxReadEvents),
        maxBytes: maxReplyBytes,
      });
      return encodePage(page);
    },
  },
  version: { serve: (req, _body, { store }) => store.versionInfo(req.actorId) },
  snapshot_save: { serve: (snapshot, body, { store }) => store.saveSnapshot(snapshot, body), counters: "saveSnapshot" },
  snapshot_get: {
    async serve(req, _body, { store }) {
      const stored = await store.getSnapshot(req.actorId);
      if (!stored) throw new NotFoundError(`no snapshot for actor ${JSON.stringify(req.actorId)}`);
      return stored.json;
    },
  },
  erase: { serve: (req, _body, { store }) => store.erase(req.actorId, req.reason) },
  read: {
    async serve(req, _body, { store, maxReplyBytes, maxReadEvents }) {
      const page = await store.read({
        query: req.query,
        from: req.from,
        backwards: req.backwards,
        limit: Math.min(req.limit ?? maxReadEvents, maxReadEvents),
        maxBytes: maxReplyBytes,
      });
      return encodeLogPage(page);
    },
  },
});
