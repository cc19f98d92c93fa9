import type { StreamEvent } from "./subscribe.js";

// The public types of projections (src/client/projection.ts runs them).

export type ProjectionMode = "ordered" | "shared";
/** Where a new projection starts: the stream's start, only events stored from now on, a stream sequence or a time. */
export type ProjectionStart = "start" | "new" | { seq: number } | { time: Date | string };
/** Where a reset sends a projection: its start (the `from` it was created with), a stream sequence or a time. */
export type ProjectionResetTo = "start" | { seq: number } | { time: Date | string };
/**
 * What a handler gets: `{sequence, event}`, or `{sequence, erased}` for an erased actor's tombstone;
 * ordered, also `epoch`: the fencing token of this process's activation, higher in every later
 * activation in any process. An effect written with it (KvReadModel does) is refused once a later
 * activation has written.
 */
export type ProjectionItem = StreamEvent & { epoch?: number };
export type ProjectionHandler = (item: ProjectionItem) => unknown;

export interface ProjectOptions {
  /** Only the events of actors of this type; default all actors. */
  actorType?: string;
  /** `ordered` (default): one process at a time, in stream order, the others stand by. `shared`: competing consumers. */
  mode?: ProjectionMode;
  /** Where the projection starts when it does not exist yet (default "start"); an existing one resumes at its ack floor. */
  from?: ProjectionStart;
  /** Attempts per event, the first included (default 5), with exponential backoff between them. */
  maxAttempts?: number;
  /** The pause after the first failed attempt (default 100 ms), doubling up to maxDelayMs (default 2000 ms). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** After maxAttempts: "stop" (default) the projection, or "skip" the event, recorded (the latest 100 are kept). */
  onFailure?: "stop" | "skip";
  /**
   * ordered: how long the server keeps a silent active process pinned before a standby takes over
   * (default 30 s). A process that stops cleanly hands over at once. A setting of the projection:
   * a process that asks for another value than the projection has is refused.
   */
  pinTtlMs?: number;
  /** How long an event may go unacknowledged before JetStream delivers it again (default 30 s); a setting of the projection. */
  ackWaitMs?: number;
  /** Events fetched ahead of the handler (default 256), at most twice as many unacknowledged; a setting of the projection. */
  batch?: number;
}

export interface ProjectionFailure {
  /** The stream sequence of the event the handler failed on, when there was one. */
  sequence?: number;
  error: Error;
}

export type ProjectionState = "standby" | "active" | "running" | "failed" | "stopped" | "removed";

export interface ProjectionStatus {
  name: string;
  consumer: string;
  mode: ProjectionMode;
  /** ordered: active or standby; shared: running; then failed, stopped or removed. */
  state: ProjectionState;
  /** The checkpoint: every event up to this stream sequence is handled. */
  ackFloor: number;
  /** The lag: events stored but not acknowledged yet. */
  pending: number;
  redelivered: number;
  failure?: ProjectionFailure;
  /** The skipped sequences, the latest 100. */
  skipped: number[];
}

/** A projection as `projections ls` shows it, from its consumer alone. */
export interface ProjectionInfo {
  name: string;
  mode: ProjectionMode;
  filter: string;
  ackFloor: number;
  pending: number;
  redelivered: number;
  /** ordered: the pin id of the active process ("" when none is pinned). */
  active: string;
  failed?: number;
  /** The skipped sequences, the latest 100. */
  skipped: number[];
}

export interface ProjectionEvents {
  /** The projection reads (emitted once the caller holds it). */
  started: [];
  /** ordered: this process became the one that receives; pinId is the server's name for it, epoch its fencing token. */
  active: [{ pinId: string; epoch: number }];
  /** ordered: this process lost its pin (or found a later activation's write) and waits. */
  standby: [];
  retry: [{ sequence: number; attempt: number; delayMs: number; error: Error }];
  skipped: [{ sequence: number; error: Error }];
  failed: [ProjectionFailure];
  stopped: [];
}
