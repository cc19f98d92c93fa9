// The shapes the console server answers with (src/console/server/api.ts and the contract's replies).

export interface StoredEvent {
  id: string;
  eventType: string;
  actorId: string;
  version: number;
  data: Record<string, unknown>;
  metadata?: Record<string, string>;
  tags?: string[];
  timestamp: string;
}

export interface Tombstone {
  actorId: string;
  version: number;
  erasedAt: string;
  reason?: string;
}

export interface Replica {
  id: string;
  version: string;
  started: string;
  requests: number;
  errors: number;
  averageLatencyMs: number;
  metadata: Record<string, string>;
}

export interface StreamSummary {
  name: string;
  created: string;
  messages: number;
  bytes: number;
  firstSeq: number;
  firstTime: string;
  lastSeq: number;
  lastTime: string;
  subjects: number;
  consumers: number;
  replicas: number;
  cluster?: { leader?: string; replicas: { name: string; current: boolean; lag: number; activeNs: number }[] };
}

export interface ActorType {
  type: string;
  actors: number;
  /** Messages on the type's subjects: events, and the tombstones of erased actors. */
  messages: number;
}

export interface TypesAnswer {
  types: ActorType[];
  /** Actors counted; fewer than `total` when the scan stopped at its bound. */
  counted: number;
  total: number;
}

export interface ActorRow {
  actorId: string;
  /** Messages on the actor's subject: its events (and its tombstone, once erased). */
  messages: number;
  version?: number;
  erased?: boolean;
  /** Why the version could not be read. */
  error?: string;
}

export interface ActorsAnswer {
  actors: ActorRow[];
  offset: number;
  hasMore: boolean;
  /** Actors of the type in all (without a prefix), or matches found so far (with one). */
  total: number;
  /** With a prefix: false when the search stopped at its bound before the end. */
  complete: boolean;
}

export interface ActorAnswer {
  actorId: string;
  version: { version: number; erased?: boolean; erasedAt?: string };
  snapshot?: { actorId: string; version: number; state: Record<string, unknown>; timestamp: string };
  /** Why the snapshot could not be read (a role that may not), beside what could. */
  snapshotError?: string;
}

export interface EventsPage {
  events: StoredEvent[];
  hasMore: boolean;
  erased?: boolean;
}

export interface EraseAnswer {
  actorId: string;
  version: number;
  erasedEvents: number;
  erasedSnapshots: number;
  erasedAt: string;
}

export interface ProjectionInfo {
  name: string;
  mode: string;
  filter: string;
  ackFloor: number;
  pending: number;
  redelivered: number;
  active: string;
  failed?: number;
  skipped: number[];
}
