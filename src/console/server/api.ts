import { type ServiceInfo, type ServiceStats, Svcm } from "@nats-io/services";
import { type NatsConnection, errors as natsErrors } from "@nats-io/transport-node";
import {
  type EventStoreClient,
  type EventsResponse,
  escapeToken,
  type ProjectionInfo,
  type ProjectionResetTo,
  Subjects,
  toEventStoreError,
  UnavailableError,
  unescapeToken,
  ValidationError,
} from "../../index.js";
import type { ActorAnswer, ActorRow, ActorsAnswer, ActorType, Replica, StreamSummary, TypesAnswer } from "../page/types.js";
import { streamSummary, subjectsPage } from "./stream.js";

// What the page asks for, each answered with the console's own NATS connection: the service's
// endpoints through EventStoreClient, $SRV for the replicas, the JetStream API for the stream.

const SERVICE_NAME = "eventstore";
/** Replicas answer $SRV within milliseconds; the collection ends this long after the last answer. */
const STALL_MS = 300;
/** Subject pages (100,000 subjects each) read to count actor types or search by prefix, at most. */
export const MAX_SCAN_PAGES = 10;
/** Actors in one page of the list. */
export const ACTORS_PAGE = 50;
/** Events in one page of an actor's history. */
export const EVENTS_PAGE = 200;

export class ConsoleApi {
  constructor(
    readonly client: EventStoreClient,
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {}

  async stream(): Promise<StreamSummary> {
    return streamSummary(this.nc, await this.client.streamName(), this.timeoutMs);
  }

  /** Every replica's $SRV INFO and STATS, merged by id. */
  async replicas(): Promise<Replica[]> {
    const svc = new Svcm(this.nc).client({ strategy: "stall", maxWait: this.timeoutMs, stall: STALL_MS });
    const [infos, stats] = await Promise.all([
      collect<ServiceInfo>(svc.info(SERVICE_NAME)),
      collect<ServiceStats>(svc.stats(SERVICE_NAME)),
    ]);
    if (stats.length === 0) throw new UnavailableError(`no ${SERVICE_NAME} service answered $SRV.STATS.${SERVICE_NAME}`);
    const metadata = new Map(infos.map((i) => [i.id, i.metadata ?? {}]));
    return stats
      .map((s) => {
        const endpoints = s.endpoints ?? [];
        const requests = endpoints.reduce((n, e) => n + e.num_requests, 0);
        const processingNs = endpoints.reduce((n, e) => n + e.processing_time, 0);
        return {
          id: s.id,
          version: s.version,
          started: s.started,
          requests,
          errors: endpoints.reduce((n, e) => n + e.num_errors, 0),
          averageLatencyMs: requests > 0 ? Number((processingNs / requests / 1e6).toFixed(3)) : 0,
          metadata: metadata.get(s.id) ?? {},
        };
      })
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Actor types with their actors, from the stream's subjects <stream>.events.<type>.<actor>. */
  async types(): Promise<TypesAnswer> {
    const stream = await this.client.streamName();
    const filter = `${new Subjects(stream).eventsPrefix}*.*`;
    const byType = new Map<string, ActorType>();
    let counted = 0;
    let total = 0;
    for (let page = 0; page < MAX_SCAN_PAGES; page++) {
      const { subjects, total: all } = await subjectsPage(this.nc, stream, filter, counted, this.timeoutMs);
      total = all;
      for (const [subject, messages] of subjects) {
        const type = unescapeToken(subject.split(".").at(-2)!);
        const entry = byType.get(type) ?? { type, actors: 0, messages: 0 };
        entry.actors += 1;
        entry.messages += messages;
        byType.set(type, entry);
      }
      counted += subjects.length;
      if (subjects.length === 0 || counted >= total) break;
    }
    return { types: [...byType.values()].sort((a, b) => a.type.localeCompare(b.type)), counted, total };
  }

  /**
   * One page of a type's actors in subject order, each with its latest version (the service's
   * `version`). With a prefix, the type's subjects are searched page by page, MAX_SCAN_PAGES at most.
   */
  async actors(type: string, prefix: string, offset: number): Promise<ActorsAnswer> {
    const stream = await this.client.streamName();
    const filter = new Subjects(stream).eventsOfType(type);
    let rows: [string, number][];
    let total: number;
    let complete = true;
    if (prefix === "") {
      const page = await subjectsPage(this.nc, stream, filter, offset, this.timeoutMs);
      rows = page.subjects.slice(0, ACTORS_PAGE + 1);
      total = page.total;
    } else {
      const tokenPrefix = `${new Subjects(stream).eventsPrefix}${escapeToken(type)}.${escapeToken(prefix)}`;
      const matches: [string, number][] = [];
      let read = 0;
      complete = false;
      for (let page = 0; page < MAX_SCAN_PAGES && matches.length <= offset + ACTORS_PAGE; page++) {
        const { subjects, total: all } = await subjectsPage(this.nc, stream, filter, read, this.timeoutMs);
        for (const entry of subjects) if (entry[0].startsWith(tokenPrefix)) matches.push(entry);
        read += subjects.length;
        if (subjects.length === 0 || read >= all) {
          complete = true;
          break;
        }
      }
      rows = matches.slice(offset, offset + ACTORS_PAGE + 1);
      total = matches.length;
    }
    const hasMore = rows.length > ACTORS_PAGE;
    const actors = await Promise.all(rows.slice(0, ACTORS_PAGE).map(([subject, messages]) => this.actorRow(subject, messages)));
    return { actors, offset, hasMore, total, complete };
  }

  private async actorRow(subject: string, messages: number): Promise<ActorRow> {
    const actorId = unescapeToken(subject.split(".").at(-1)!);
    try {
      const { version, erased } = await this.client.request("version", { actorId });
      return { actorId, messages, version, ...(erased ? { erased } : {}) };
    } catch (err) {
      return { actorId, messages, error: toEventStoreError(err).message };
    }
  }

  /** The actor's version (and whether it was erased) and its latest snapshot. */
  async actor(actorId: string): Promise<ActorAnswer> {
    const version = await this.client.request("version", { actorId });
    try {
      const snapshot = await this.client.getSnapshot(actorId);
      return { actorId, version, ...(snapshot ? { snapshot } : {}) };
    } catch (err) {
      return { actorId, version, snapshotError: toEventStoreError(err).message };
    }
  }

  events(actorId: string, fromVersion: number, limit: number): Promise<EventsResponse> {
    return this.client.request("events", { actorId, fromVersion, limit });
  }

  /** Erases the actor when `confirm` repeats its id exactly: the page asks for it, and so does this. */
  erase(actorId: string, confirm: string, reason: string | undefined) {
    if (confirm !== actorId) throw new ValidationError("not erased: the confirmation must repeat the actor id exactly");
    return this.client.erase(actorId, reason === undefined || reason === "" ? {} : { reason });
  }

  projections(): Promise<ProjectionInfo[]> {
    return this.client.projections();
  }

  async resetProjection(name: string, confirm: string, to: ProjectionResetTo): Promise<number> {
    confirmName(name, confirm);
    return this.client.resetProjection(name, to);
  }

  async removeProjection(name: string, confirm: string): Promise<boolean> {
    confirmName(name, confirm);
    return this.client.removeProjection(name);
  }
}

function confirmName(name: string, confirm: string): void {
  if (confirm !== name) throw new ValidationError("not done: the confirmation must repeat the projection's name exactly");
}

/** Every answer of a $SRV request to many; none when no replica responds. */
async function collect<T>(pending: Promise<AsyncIterable<T>>): Promise<T[]> {
  const out: T[] = [];
  try {
    for await (const item of await pending) out.push(item);
  } catch (err) {
    if (err instanceof natsErrors.NoRespondersError || (err instanceof natsErrors.RequestError && err.isNoResponders())) return out;
    throw toEventStoreError(err);
  }
  return out;
}
