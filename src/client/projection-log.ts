import {
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamClient,
  JetStreamError,
  type JetStreamManager,
  StorageType,
} from "@nats-io/jetstream";
import { isStreamNotFound } from "../contract/nats-failures.js";

/**
 * What projections record beside their consumers, one message each, in the stream
 * `<stream>_PROJECTIONS` (subjects `<stream>.projections.<name>.<kind>`):
 * - `epoch`: a process became the active one of an ordered projection. The message's stream
 *   sequence is the activation's epoch, the fencing token its handlers get: JetStream orders the
 *   messages, so a later activation, in any process, has a higher epoch.
 * - `skipped`: an event skipped after its last attempt (onFailure "skip"). One message per skip,
 *   so concurrent processes lose none; the latest SKIPPED_KEPT per projection are kept.
 */
export const SKIPPED_KEPT = 100;
// nats-server: "stream name already in use with a different configuration".
const STREAM_NAME_IN_USE = 10058;

export class ProjectionLog {
  readonly streamName: string;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly stream: string,
  ) {
    this.streamName = `${stream}_PROJECTIONS`;
  }

  /** Creates the stream when missing, with the events stream's replicas; one that exists is used as it is. */
  async ensure(): Promise<void> {
    const replicas = (await this.jsm.streams.info(this.stream)).config.num_replicas;
    try {
      await this.jsm.streams.add({
        name: this.streamName,
        subjects: [`${this.stream}.projections.>`],
        storage: StorageType.File,
        num_replicas: replicas,
        max_msgs_per_subject: SKIPPED_KEPT,
        discard: DiscardPolicy.Old,
        allow_direct: true,
      });
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE)) throw err;
    }
  }

  /** A new activation of the projection: its epoch. */
  async activate(name: string, pinId: string): Promise<number> {
    return (await this.js.publish(this.subject(name, "epoch"), JSON.stringify({ pinId }))).seq;
  }

  /** The sequence only: a handler's error message may carry an event's data, and this stream outlives an erase. */
  async recordSkip(name: string, sequence: number): Promise<void> {
    await this.js.publish(this.subject(name, "skipped"), JSON.stringify({ sequence }));
  }

  /** The skipped sequences kept for the projection, oldest first. */
  async skipped(name: string): Promise<number[]> {
    const out: number[] = [];
    try {
      const batch = await this.jsm.direct.getBatch(this.streamName, {
        seq: 1,
        next_by_subj: this.subject(name, "skipped"),
        batch: SKIPPED_KEPT,
      });
      for await (const m of batch) out.push(m.json<{ sequence: number }>().sequence);
    } catch (err) {
      // Nothing recorded (404), or no stream yet (503: nobody answers): nothing was skipped.
      if (!(err instanceof JetStreamError && [404, 503].includes((err as JetStreamError & { code?: number }).code ?? 0))) throw err;
    }
    return out;
  }

  /** Forgets the projection's records (projections rm). */
  async forget(name: string): Promise<void> {
    try {
      await this.jsm.streams.purge(this.streamName, { filter: `${this.stream}.projections.${name}.>` });
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
    }
  }

  private subject(name: string, kind: "epoch" | "skipped"): string {
    return `${this.stream}.projections.${name}.${kind}`;
  }
}
