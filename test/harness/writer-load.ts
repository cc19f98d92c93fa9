import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { expect } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import { VersionConflictError } from "../../src/contract/errors.js";

/** A save the service acknowledged (stored now or found stored: duplicate). */
export interface Ack {
  actorId: string;
  id: string;
  version: number;
  sequence: number;
  duplicate: boolean;
  /** Date.now() when the reply arrived. */
  at: number;
}

/** A 409 with what the writer knew when it sent the save. */
export interface Conflict {
  actorId: string;
  attemptedVersion: number;
  currentVersion: number;
  /** The actor's highest version acknowledged to anyone before the save was sent. */
  ackedBefore: number;
}

/** A version read with the highest version acknowledged before it was sent. */
export interface VersionRead {
  actorId: string;
  version: number;
  ackedBefore: number;
}

export interface WriterLoadOptions {
  actors: string[];
  writersPerActor: number;
  /** One attempt's reply timeout; a timeout, no responders or 503 is retried with the same event id. */
  timeoutMs?: number;
  /** Give up on one request after this long of retrying (the load fails then). */
  retryForMs?: number;
  /** After each acknowledged save, read the actor's events from the version before it. */
  readBack?: boolean;
}

/**
 * Writers that race on a few actors the way an event-sourced service does: read the version,
 * save version + 1, and on a 409 read the version again. Every request is retried with the same
 * bytes until it gets a real answer, and everything answered is recorded for the checks.
 */
export class WriterLoad {
  readonly acks: Ack[] = [];
  readonly conflicts: Conflict[] = [];
  readonly versionReads: VersionRead[] = [];
  /** Acknowledged saves that the events read right after them did not return. */
  readonly missedReads: Ack[] = [];
  /** Attempts that timed out, found no responder or got a 503, and were sent again. */
  retries = 0;
  private readonly highest = new Map<string, number>();
  private readonly client: EventStoreClient;
  private running?: Promise<void>;
  private stopping = false;
  private failure?: Error;

  constructor(
    nc: NatsConnection,
    private readonly options: WriterLoadOptions,
  ) {
    const timeoutMs = options.timeoutMs ?? 3000;
    const retryForMs = options.retryForMs ?? 60_000;
    const maxDelayMs = 250;
    this.client = new EventStoreClient(nc, {
      timeoutMs,
      retry: {
        attempts: Math.ceil(retryForMs / maxDelayMs),
        initialDelayMs: 25,
        maxDelayMs,
        onRetry: () => this.retries++,
      },
    });
  }

  start(): this {
    const writers = this.options.actors.flatMap((actorId) =>
      Array.from({ length: this.options.writersPerActor }, (_, n) => this.writer(actorId, n)),
    );
    this.running = Promise.all(writers).then(() => undefined);
    return this;
  }

  /** Lets every writer finish the request it is in, then resolves; rejects if a writer failed. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    if (this.failure) throw this.failure;
  }

  /** Resolves once `count` more saves have been acknowledged. */
  async acknowledged(count: number, timeoutMs = 60_000): Promise<void> {
    const target = this.acks.length + count;
    const deadline = Date.now() + timeoutMs;
    while (this.acks.length < target) {
      if (this.failure) throw this.failure;
      if (Date.now() > deadline) throw new Error(`only ${this.acks.length} of ${target} saves acknowledged in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async writer(actorId: string, n: number): Promise<void> {
    try {
      let version = await this.readVersion(actorId);
      while (!this.stopping) {
        const id = randomUUID();
        const ackedBefore = this.highest.get(actorId) ?? 0;
        try {
          const r = await this.client.save({ id, eventType: "Incremented", actorId, version: version + 1, data: { writer: n } });
          const ack = { actorId, id, version: r.version, sequence: r.sequence, duplicate: r.duplicate, at: Date.now() };
          this.acks.push(ack);
          this.highest.set(actorId, Math.max(this.highest.get(actorId) ?? 0, r.version));
          version = r.version;
          if (this.options.readBack) await this.readBack(ack);
        } catch (err) {
          if (!(err instanceof VersionConflictError)) throw err;
          this.conflicts.push({ actorId, attemptedVersion: err.attemptedVersion, currentVersion: err.currentVersion, ackedBefore });
          version = await this.readVersion(actorId);
        }
      }
    } catch (err) {
      this.failure ??= err as Error;
      this.stopping = true;
    }
  }

  private async readBack(ack: Ack): Promise<void> {
    for await (const event of this.client.events(ack.actorId, { fromVersion: ack.version - 1, pageSize: 1 })) {
      if (event.id !== ack.id) this.missedReads.push(ack);
      return;
    }
    this.missedReads.push(ack);
  }

  private async readVersion(actorId: string): Promise<number> {
    const ackedBefore = this.highest.get(actorId) ?? 0;
    const version = await this.client.version(actorId);
    this.versionReads.push({ actorId, version, ackedBefore });
    return version;
  }
}

/**
 * Every 409 names a version that exists, at least the one attempted and no older than any
 * acknowledged before it; every version read includes the writes acknowledged before it,
 * whichever replica and node served it.
 */
export function expectTrueVersions(load: WriterLoad): void {
  const finalVersion = new Map<string, number>();
  for (const a of load.acks) finalVersion.set(a.actorId, Math.max(finalVersion.get(a.actorId) ?? 0, a.version));
  for (const c of load.conflicts) {
    expect(c.currentVersion).toBeGreaterThanOrEqual(Math.max(c.attemptedVersion, c.ackedBefore));
    expect(c.currentVersion).toBeLessThanOrEqual(finalVersion.get(c.actorId)!);
  }
  for (const r of load.versionReads) expect(r.version).toBeGreaterThanOrEqual(r.ackedBefore);
}
