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

/** A stretch of sequences to fetch with one batch direct get: `count` messages of the subject from `start`. */
export interface SeqRun {
  start: number;
  end: number;
  count: number;
}

/**
 * Groups sorted sequences into runs whose neighbours are at most `maxGap` apart: a run is read
 * with one batch get (the server steps over at most maxGap other messages between two of ours),
 * a lone sequence with a plain get by sequence.
 */
export function planRuns(seqs: readonly number[], maxGap: number): SeqRun[] {
  const runs: SeqRun[] = [];
  for (const seq of seqs) {
    const run = runs.at(-1);
    if (run && seq - run.end <= maxGap) {
      run.end = seq;
      run.count++;
    } else {
      runs.push({ start: seq, end: seq, count: 1 });
    }
  }
  return runs;
}
