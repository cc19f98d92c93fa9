import { NotFoundError } from "../errors.js";
import type {
  AppendRequest,
  EventsRequest,
  SaveRequest,
  SnapshotGetRequest,
  SnapshotSaveRequest,
  VersionRequest,
} from "../schemas/types.js";
import { objectsUnder } from "../store/encode.js";
import { type EventStore, encodePage } from "../store/store.js";
import type { EndpointName } from "../subjects.js";
import type { RequestValidator } from "../validation.js";

/** Filled in as a request is understood, so that an error can be logged with its context. */
export interface RequestContext {
  actorId?: string;
}

export type Handler = (body: Uint8Array, ctx: RequestContext) => Promise<Uint8Array | string>;

export interface HandlerDeps {
  store: EventStore;
  validator: RequestValidator;
  /** An events reply must fit in this many bytes: the connection's max_payload. */
  maxReplyBytes: number;
  /** An events reply carries at most this many events, whatever `limit` asks. */
  maxReadEvents: number;
}

/** Per endpoint: parse and validate the request, call the store, encode the reply. */
export function createHandlers({ store, validator, maxReplyBytes, maxReadEvents }: HandlerDeps): Record<EndpointName, Handler> {
  return {
    async save(body, ctx) {
      const event = validator.parse<SaveRequest>("save", body);
      ctx.actorId = event.actorId;
      return JSON.stringify(await store.save(event, body));
    },
    async append(body, ctx) {
      const req = validator.parse<AppendRequest>("append", body);
      ctx.actorId = req.actorId;
      return JSON.stringify(await store.append(req.actorId, req.events, objectsUnder(body, "events")));
    },
    async events(body, ctx) {
      const req = validator.parse<EventsRequest>("events", body);
      ctx.actorId = req.actorId;
      const page = await store.events(req.actorId, {
        fromVersion: req.fromVersion,
        limit: Math.min(req.limit ?? maxReadEvents, maxReadEvents),
        maxBytes: maxReplyBytes,
      });
      return encodePage(page);
    },
    async version(body, ctx) {
      const req = validator.parse<VersionRequest>("version", body);
      ctx.actorId = req.actorId;
      return JSON.stringify({ actorId: req.actorId, version: await store.version(req.actorId) });
    },
    async snapshot_save(body, ctx) {
      const req = validator.parse<SnapshotSaveRequest>("snapshot_save", body);
      ctx.actorId = req.actorId;
      return JSON.stringify(await store.saveSnapshot(req, body));
    },
    async snapshot_get(body, ctx) {
      const req = validator.parse<SnapshotGetRequest>("snapshot_get", body);
      ctx.actorId = req.actorId;
      const stored = await store.getSnapshot(req.actorId);
      if (!stored) throw new NotFoundError(`no snapshot for actor ${JSON.stringify(req.actorId)}`);
      return stored.json;
    },
  };
}
