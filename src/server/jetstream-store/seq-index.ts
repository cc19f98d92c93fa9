import type { StreamReader } from "../jetstream/reader.js";
import { type CacheFigures, LruCache } from "../store/cache.js";
import type { Head } from "../store/decide.js";
import { StaleIndexError, type StoredMsg } from "./stored-msg.js";

/**
 * Where one actor's events sit in the stream: version -> stream sequence, in order, for a
 * contiguous tail of its history (from its first entry to the newest event this replica knows).
 * Reading events by known sequence costs the same in a stream of any size; finding them by
 * subject does not, because the server must look through the blocks between them.
 *
 * Entries are only ever appended to the arrays in place; trimming replaces them, so a read that
 * holds an index's arrays walks them by position safely while others add to or trim the index.
 * An index is not trimmed while reads scan into it: each of them chose it because it covered
 * what the read asks for, and takes its view of the arrays once its scan is done.
 */
export class ActorIndex {
  versions: number[] = [];
  seqs: number[] = [];
  /** Reads scanning into the index now. */
  scans = 0;

  /**
   * @param complete true when the index starts at the actor's first event, so that nothing
   * before its first entry exists.
   * @param generation what the store knew of the stream when the index was begun.
   */
  constructor(
    public complete: boolean,
    readonly generation: number,
  ) {}

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
      throw new StaleIndexError(`index entries must grow: (${version}, ${seq}) after (${this.lastVersion}, ${this.lastSeq})`);
    }
    this.versions.push(version);
    this.seqs.push(seq);
  }

  /** Keeps at most the newest `keep` entries (none dropped while a read scans into it); the index is then a tail. */
  trim(keep: number): void {
    const drop = this.versions.length - keep;
    if (drop <= 0 || this.scans > 0) return;
    this.versions = this.versions.slice(drop);
    this.seqs = this.seqs.slice(drop);
    this.complete = false;
  }

  /** Whether every event after `version` is in the index. */
  covers(version: number): boolean {
    return this.complete || (this.versions.length > 0 && this.versions[0]! <= version + 1) || version >= this.lastVersion;
  }

  /**
   * How many entries make the actor's history up to the head: the index must hold the head's
   * sequence at its version (writes of this replica may already follow it); -1 when it does not.
   */
  endingAt(head: Head): number {
    const n = firstAfter(this.seqs, head.seq);
    return n > 0 && this.seqs[n - 1] === head.seq && this.versions[n - 1] === head.version ? n : -1;
  }
}

/** What one read uses of an index: its entries as they were when the read took them. */
export interface IndexView {
  readonly versions: readonly number[];
  readonly seqs: readonly number[];
  readonly length: number;
}

/** Position of the first entry greater than `value` in ascending entries (versions or sequences). */
export function firstAfter(entries: readonly number[], value: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// What an index costs beyond its entries, counted in entries (8 bytes each) for the bound on all
// indexes: its object, two arrays with their spare room, the cache entry and the actor id, about 500 bytes.
const INDEX_OVERHEAD = 64;

/** The indexes of recently used actors, bounded by their total number of entries. */
export class ActorIndexes {
  private readonly indexes: LruCache<ActorIndex>;
  private readonly maxPerActor: number;

  constructor(capacity: number) {
    this.indexes = new LruCache(capacity);
    this.maxPerActor = Math.max(1, capacity - INDEX_OVERHEAD);
  }

  forget(actorId: string): void {
    this.indexes.delete(actorId);
  }

  /** Entries are version -> sequence entries with each index's overhead, the unit of EVENTSTORE_INDEX_SIZE. */
  figures(): CacheFigures {
    return this.indexes.figures();
  }

  clear(): void {
    this.indexes.clear();
  }

  /**
   * The actor's index brought up to its head, as a view for one read. Only what this replica has
   * not seen yet is scanned, from the last sequence it knows; an index that cannot answer (none
   * yet, trimmed past `from`, learned under another generation, or not ending where the head is)
   * is rebuilt from the start. The bound on memory trims what is kept, never the view returned.
   * Messages read on the way are left in `seen`.
   */
  async upTo(
    reader: StreamReader<StoredMsg, number>,
    actorId: string,
    subject: string,
    head: Head,
    from: number,
    seen: Map<number, StoredMsg>,
    generation: number,
  ): Promise<IndexView> {
    let index = this.indexes.get(actorId);
    const usable = index && index.generation === generation && index.covers(from) && (index.lastSeq < head.seq || index.endingAt(head) > 0);
    if (!index || !usable) index = new ActorIndex(true, generation);
    const idx = index;
    if (idx.lastSeq < head.seq) {
      // The index covers `from` now, and nothing is trimmed from it until this scan is done.
      idx.scans++;
      try {
        await reader.scan(subject, idx.lastSeq + 1, head.seq, (msg) => {
          if (msg.seq > head.seq) return false;
          // Another read or a write of this replica may have added it meanwhile.
          if (msg.seq > idx.lastSeq) idx.add(msg.version, msg.seq);
          seen.set(msg.seq, msg);
          return msg.seq < head.seq;
        });
      } finally {
        idx.scans--;
      }
    }
    const length = idx.endingAt(head);
    if (length < 0) throw new StaleIndexError(`${subject} does not end at version ${head.version}, sequence ${head.seq}`);
    const view: IndexView = { versions: idx.versions, seqs: idx.seqs, length };
    this.keep(actorId, idx);
    return view;
  }

  /**
   * Records a write in the actor's index when the index ended exactly where the write began;
   * otherwise this replica missed other writes, and the next read scans past what it knows.
   */
  recordWrite(actorId: string, afterSeq: number, versions: number[], seqs: number[], generation: number): void {
    let index = this.indexes.get(actorId);
    if (index && index.generation !== generation) return;
    // A write that expected sequence 0 found no history at all: its index is complete.
    if (!index && afterSeq === 0) index = new ActorIndex(true, generation);
    if (!index || index.lastSeq !== afterSeq) return;
    if (versions[0]! <= index.lastVersion) {
      // Only a stream that lost the actor's history lets its versions start over: forget the index.
      this.indexes.delete(actorId);
      return;
    }
    for (const [i, v] of versions.entries()) index.add(v, seqs[i]!);
    this.keep(actorId, index);
  }

  private keep(actorId: string, index: ActorIndex): void {
    index.trim(this.maxPerActor);
    this.indexes.set(actorId, index, index.length + INDEX_OVERHEAD);
  }
}
