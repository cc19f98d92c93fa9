import { DiscardPolicy, JetStreamApiError, type JetStreamManager, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { headers, type NatsConnection, nuid } from "@nats-io/transport-node";
import { ValidationError } from "../contract/errors.js";
import { isStreamNotFound, isWrongLastSequence } from "../contract/nats-failures.js";
import { FencedError } from "./errors.js";
import type { ProjectionItem } from "./projection.js";

/** The key of the read model's checkpoint: the epoch that last wrote, and the last event applied. */
export const CHECKPOINT_KEY = "_checkpoint";
interface Checkpoint {
  epoch: number;
  sequence: number;
}
interface Entry<T> {
  value?: T;
  /** The entry's stream sequence (0: never written): what a compare-and-set expects. */
  revision: number;
}
const TIMEOUT_MS = 5000;

/**
 * A read model in a NATS KV bucket kept by one ordered projection, each event applied exactly once,
 * in stream order, and fenced: every write carries the checkpoint (the key `_checkpoint`) with
 * compare-and-set against the revision this activation wrote last, in one atomic batch with the
 * rows. A process that becomes active writes the checkpoint with its epoch first, so a process that
 * was active before it (paused, cut off, and not aware yet) has every later write refused with
 * FencedError, and the projection stops it. An event at or below the checkpoint is applied already
 * (delivered again after a crash, a failover or a reset) and is skipped.
 *
 * The bucket is a KV bucket like any other (read it with @nats-io/kv); the stream that holds it
 * needs atomic batches (`allow_atomic`, nats-server >= 2.12), which open() turns on.
 */
export class KvReadModel {
  private fence?: Checkpoint & { revision: number };

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    readonly bucket: string,
  ) {}

  /** The bucket, created when missing (as @nats-io/kv would, history 1). */
  static async open(nc: NatsConnection, bucket: string, options: { replicas?: number } = {}): Promise<KvReadModel> {
    if (!/^[-\w]+$/.test(bucket)) throw new ValidationError(`a KV bucket name must match [-\\w]+, got ${JSON.stringify(bucket)}`);
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const stream = `KV_${bucket}`;
    try {
      const info = await jsm.streams.info(stream);
      if (!(info.config as { allow_atomic?: boolean }).allow_atomic)
        await jsm.streams.update(stream, { ...info.config, allow_atomic: true });
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
      await jsm.streams.add({
        name: stream,
        subjects: [`$KV.${bucket}.>`],
        storage: StorageType.File,
        num_replicas: options.replicas ?? 1,
        max_msgs_per_subject: 1,
        discard: DiscardPolicy.New,
        allow_rollup_hdrs: true,
        deny_delete: true,
        allow_direct: true,
        allow_atomic: true,
      });
    }
    return new KvReadModel(nc, jsm, bucket);
  }

  /** A row's value (JSON), or undefined. */
  async get<T>(key: string): Promise<T | undefined> {
    return (await this.entry<T>(key)).value;
  }

  /**
   * Applies one event: `change` reads the rows it needs through `read` and returns the rows to
   * write (JSON values); they are stored with the checkpoint, all or none. Throws FencedError when
   * a later activation has written; any other refusal (a row that changed since it was read) is an
   * error the projection retries.
   */
  async apply(
    item: ProjectionItem,
    change: (read: <T>(key: string) => Promise<T | undefined>) => Promise<Record<string, unknown>> | Record<string, unknown>,
  ): Promise<void> {
    if (item.epoch === undefined) throw new ValidationError("a KvReadModel is kept by an ordered projection: its items carry the epoch");
    const fence = await this.fenceFor(item.epoch);
    if (item.sequence <= fence.sequence) return;
    const read = new Map<string, number>();
    const writes = await change(async <T>(key: string) => {
      const entry = await this.entry<T>(key);
      read.set(key, entry.revision);
      return entry.value;
    });
    const rows = Object.entries(writes).map(([key, value]) => ({ key, value, expect: read.get(key) }));
    if (rows.length === 0) return;
    const checkpoint: Checkpoint = { epoch: fence.epoch, sequence: item.sequence };
    try {
      const revision = await this.batch([...rows, { key: CHECKPOINT_KEY, value: checkpoint, expect: fence.revision }]);
      this.fence = { ...checkpoint, revision };
    } catch (err) {
      if (!isWrongLastSequence(err)) throw err;
      if ((await this.entry<Checkpoint>(CHECKPOINT_KEY)).revision !== fence.revision) {
        this.fence = undefined;
        throw new FencedError(`read model ${this.bucket}: a later activation of the projection wrote (epoch ${fence.epoch} is over)`);
      }
      throw new Error(`read model ${this.bucket}: a row changed since it was read; trying again`, { cause: err });
    }
  }

  /** This activation's fence: the checkpoint written with its epoch, unless a later epoch wrote it already. */
  private async fenceFor(epoch: number): Promise<Checkpoint & { revision: number }> {
    if (this.fence?.epoch === epoch) return this.fence;
    for (;;) {
      const current = await this.entry<Checkpoint>(CHECKPOINT_KEY);
      const at = current.value ?? { epoch: 0, sequence: 0 };
      if (at.epoch > epoch) throw new FencedError(`read model ${this.bucket}: epoch ${at.epoch} wrote, after this process's ${epoch}`);
      try {
        const revision = await this.batch([{ key: CHECKPOINT_KEY, value: { epoch, sequence: at.sequence }, expect: current.revision }]);
        this.fence = { epoch, sequence: at.sequence, revision };
        return this.fence;
      } catch (err) {
        // Written meanwhile (the previous active's last write, or another fence): look again.
        if (!isWrongLastSequence(err)) throw err;
      }
    }
  }

  private async entry<T>(key: string): Promise<Entry<T>> {
    const m = await this.jsm.direct.getMessage(`KV_${this.bucket}`, { last_by_subj: this.subject(key) });
    if (!m) return { revision: 0 };
    const op = m.header?.get("KV-Operation");
    return op === "DEL" || op === "PURGE" ? { revision: m.seq } : { value: m.json<T>(), revision: m.seq };
  }

  /**
   * One atomic batch (a single message is published alone): each message expects its subject's last
   * sequence where `expect` is given (0: nothing stored). The stream sequence of the last one.
   */
  private async batch(messages: { key: string; value: unknown; expect?: number | undefined }[]): Promise<number> {
    const id = nuid.next();
    for (let i = 0; i < messages.length; i++) {
      const { key, value, expect } = messages[i]!;
      const h = headers();
      if (expect !== undefined) h.set("Nats-Expected-Last-Subject-Sequence", String(expect));
      const data = JSON.stringify(value);
      if (messages.length > 1) {
        h.set("Nats-Batch-Id", id);
        h.set("Nats-Batch-Sequence", String(i + 1));
        if (i < messages.length - 1) {
          this.nc.publish(this.subject(key), data, { headers: h });
          continue;
        }
        h.set("Nats-Batch-Commit", "1");
      }
      const reply = (await this.nc.request(this.subject(key), data, { headers: h, timeout: TIMEOUT_MS })).json<{
        seq?: number;
        error?: ConstructorParameters<typeof JetStreamApiError>[0];
      }>();
      if (reply.error) throw new JetStreamApiError(reply.error);
      return reply.seq!;
    }
    throw new Error("an empty batch");
  }

  private subject(key: string): string {
    return `$KV.${this.bucket}.${key}`;
  }
}
