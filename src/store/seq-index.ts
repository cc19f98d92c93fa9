import { LruCache } from "./cache.js";
import { StaleIndexError, type StoredMsg, type StreamReader } from "./stream-reader.js";

/**
 * Where one actor's events sit in the stream: version -> stream sequence, in order, for a
 * contiguous tail of its history (from `firstVersion` to the newest event this replica knows).
 * Reading events by known sequence costs the same in a stream of any size; finding them by
 * subject does not, because the server must look through the blocks between them.
 */
export class ActorIndex {
  readonly versions: number[] = [];
  readonly seqs: number[] = [];

  /**
   * @param complete true when the index starts at the actor's first event, so that nothing
   * before its first entry exists.
   */
  constructor(public complete: boolean) {}

  get length(): number {
    return this.versions.length;
  }

  get lastSeq(): number {
    return this.seqs.at(-1) ?? 0;
  }

  get lastVersion(): number {
    return this.versions.at(-1) ?? 0;
  }

  add(version: number, seq: number): void {
    if (seq <= this.lastSeq || version <= this.lastVersion) {
      throw new RangeError(`index entries must grow: (${version}, ${seq}) after (${this.lastVersion}, ${this.lastSeq})`);
    }
    this.versions.push(version);
    this.seqs.push(seq);
  }

  /** Drops the oldest entries so that at most `keep` remain; the index is then a tail. */
  trim(keep: number): void {
    const drop = this.versions.length - keep;
    if (drop <= 0) return;
    this.versions.splice(0, drop);
    this.seqs.splice(0, drop);
    this.complete = false;
  }

  /** Whether every event after `version` is in the index. */
  covers(version: number): boolean {
    return this.complete || (this.versions.length > 0 && this.versions[0]! <= version + 1) || version >= this.lastVersion;
  }

  /** Position of the first entry whose version is greater than `version`. */
  firstAfter(version: number): number {
    let lo = 0;
    let hi = this.versions.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.versions[mid]! <= version) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

// The newest entries kept per actor; reads from before them scan the history once more.
const MAX_INDEXED_PER_ACTOR = 100_000;
// What an index costs beyond its entries, counted in entries (8 bytes each) for the bound on all
// indexes: its object, two arrays with their spare room, the cache entry and the actor id, about 500 bytes.
const INDEX_OVERHEAD = 64;

/** The indexes of recently used actors, bounded by their total number of entries. */
export class ActorIndexes {
  private readonly indexes: LruCache<ActorIndex>;

  constructor(capacity: number) {
    this.indexes = new LruCache(capacity);
  }

  /** Runs a read that uses the actor's index, once more from a new index if the stream no longer matches it. */
  async using<T>(actorId: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      if (!(err instanceof StaleIndexError)) throw err;
      // The stream lost messages this replica had indexed (deleted, purged, recreated): learn it anew.
      this.indexes.delete(actorId);
      return read();
    }
  }

  /**
   * The actor's index brought up to the head at headSeq. Only what this replica has not seen yet
   * is scanned, from the last sequence it knows; an index that cannot answer (none yet, trimmed
   * past `from`, or ahead of the head because the stream was recreated) is rebuilt from the start.
   * Messages read on the way are left in `seen`.
   */
  async upTo(
    reader: StreamReader,
    actorId: string,
    subject: string,
    headSeq: number,
    from: number,
    seen: Map<number, StoredMsg>,
  ): Promise<ActorIndex> {
    let index = this.indexes.get(actorId);
    if (!index || index.lastSeq > headSeq || !index.covers(from)) index = new ActorIndex(true);
    const idx = index;
    if (idx.lastSeq < headSeq) {
      await reader.scan(subject, idx.lastSeq + 1, headSeq, (msg) => {
        if (msg.seq > headSeq) return false;
        // Another read or a write of this replica may have added it meanwhile.
        if (msg.seq > idx.lastSeq) {
          if (msg.version <= idx.lastVersion) throw new StaleIndexError(`${subject} starts again at version ${msg.version}`);
          idx.add(msg.version, msg.seq);
        }
        seen.set(msg.seq, msg);
        return msg.seq < headSeq;
      });
    }
    this.keep(actorId, idx);
    return idx;
  }

  /**
   * Records a write in the actor's index when the index ended exactly where the write began;
   * otherwise this replica missed other writes, and the next read scans past what it knows.
   */
  recordWrite(actorId: string, afterSeq: number, versions: number[], seqs: number[]): void {
    let index = this.indexes.get(actorId);
    // A write that expected sequence 0 found no history at all: its index is complete.
    if (!index && afterSeq === 0) index = new ActorIndex(true);
    if (!index || index.lastSeq !== afterSeq) return;
    if (versions[0]! <= index.lastVersion) {
      // Only a stream that lost the actor's history lets its versions start over: forget the index.
      this.indexes.delete(actorId);
      return;
    }
    versions.forEach((v, i) => index.add(v, seqs[i]!));
    this.keep(actorId, index);
  }

  private keep(actorId: string, index: ActorIndex): void {
    index.trim(MAX_INDEXED_PER_ACTOR);
    this.indexes.set(actorId, index, index.length + INDEX_OVERHEAD);
  }
}
