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

export interface TypesAnswer {
  types: { type: string; actors: number; messages: number }[];
  counted: number;
  total: number;
}

export interface ActorsAnswer {
  actors: { actorId: string; messages: number; version?: number; erased?: boolean; error?: string }[];
  offset: number;
  hasMore: boolean;
  total: number;
  complete: boolean;
}

export interface ActorAnswer {
  actorId: string;
  version: { version: number; erased?: boolean };
  snapshot?: { version: number; state: Record<string, unknown>; timestamp: string };
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
