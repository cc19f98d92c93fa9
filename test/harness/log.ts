import { jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import type { Subjects } from "../../src/contract/subjects.js";
import type { Event } from "../../src/contract/types.js";
import { type BatchMessage, publishAtomicBatch } from "../../src/server/jetstream/batch.js";
import { versionHeader } from "../../src/server/jetstream-store/message-headers.js";
import { encodeTagLink, nextTagLink, previousFromStored, type TagLink } from "../../src/server/jetstream-store/tag-link.js";
import { type EventStore, encodeLogPage, type LogReadOptions } from "../../src/server/store/event-store.js";
import { eventsStreamConfig, snapshotsStreamConfig } from "../../src/server.js";

// The log as the v3 tests see it: streams with the tag subjects, tagged writes with their links,
// and every page of a read.

/** Creates both streams with every v3 subject of the events stream (links and guards). */
export async function createV3Streams(nc: NatsConnection, subjects: Subjects, replicas = 1): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const settings = { subjects, replicas, snapshotsKeep: 1, atomicBatch: true };
  await jsm.streams.add({ ...eventsStreamConfig(settings), subjects: subjects.eventsStreamSubjects() });
  await jsm.streams.add(snapshotsStreamConfig(settings));
}

/** An event as read back: its position and body. */
export interface Positioned {
  position: number;
  event: Event;
}

/**
 * Writes events as the v3 write path lays them out: one atomic batch of the actor's events (with
 * the store's version header) and, after them, one link per distinct tag (offsets back to its
 * events, the window of the tag's previous links). Each tag must have this one writer. Keeps every
 * event written, in position order: the log a full scan would read.
 */
export class TaggedWriter {
  readonly log: Positioned[] = [];
  private readonly last = new Map<string, { seq: number; link: TagLink }>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
  ) {}

  /** The events' positions. */
  async append(actorId: string, events: Event[]): Promise<number[]> {
    const messages: BatchMessage[] = events.map((e) => ({
      subject: this.subjects.events(actorId),
      data: new TextEncoder().encode(JSON.stringify(e)),
      headers: headersOf(versionHeader(e.version)),
    }));
    const links: [string, TagLink][] = [];
    for (const tag of new Set(events.flatMap((e) => e.tags ?? []))) {
      const at = messages.length;
      const offsets = events.flatMap((e, i) => (e.tags?.includes(tag) ? [at - i] : []));
      const previous = this.last.get(tag);
      const link = nextTagLink(previous && previousFromStored(previous.seq, previous.link), offsets);
      links.push([tag, link]);
      messages.push({ subject: this.subjects.tags(tag), data: encodeTagLink(link), headers: headersOf({}) });
    }
    const lastSeq = await publishAtomicBatch(this.nc, messages, (subject, data, headers) =>
      this.nc.request(subject, data, { headers, timeout: 5000 }),
    );
    const first = lastSeq - messages.length + 1;
    links.forEach(([tag, link], j) => {
      this.last.set(tag, { seq: first + events.length + j, link });
    });
    const positions = events.map((_, i) => first + i);
    events.forEach((event, i) => {
      this.log.push({ position: positions[i]!, event });
    });
    return positions;
  }

  /** The sequence of the tag's last link. */
  lastLink(tag: string): { seq: number; link: TagLink } | undefined {
    return this.last.get(tag);
  }
}

/** Every page of a read from `from` on, following hasMore; each page checked against the bound. */
export async function readAll(
  store: EventStore,
  options: Omit<LogReadOptions, "maxBytes"> & { maxBytes?: number },
  /** Told of each page's reply size in bytes. */
  check: (replyBytes: number) => void = () => {},
): Promise<{ events: Positioned[]; pages: number }> {
  const events: Positioned[] = [];
  let from = options.from;
  for (let pages = 1; pages <= 10_000; pages++) {
    const page = await store.read({ ...options, from, maxBytes: options.maxBytes ?? 1 << 20 });
    check(encodeLogPage(page).length);
    for (const e of page.entries) events.push({ position: e.position, event: JSON.parse(new TextDecoder().decode(e.json)) });
    if (!page.hasMore) return { events, pages };
    const last = page.entries.at(-1)?.position;
    if (last === undefined) throw new Error("a page with hasMore and no events");
    from = options.backwards ? last - 1 : last + 1;
  }
  throw new Error("more than 10,000 pages");
}

/** What a filtered full scan finds: the events written that match, in position order. */
export function expected(log: Positioned[], matches: (e: Event) => boolean, backwards = false, from?: number): Positioned[] {
  const found = log.filter((p) => matches(p.event) && (from === undefined || (backwards ? p.position <= from : p.position >= from)));
  found.sort((a, b) => a.position - b.position);
  return backwards ? found.reverse() : found;
}

function headersOf(values: Record<string, string>) {
  const h = headers();
  for (const [k, v] of Object.entries(values)) h.set(k, v);
  return h;
}
