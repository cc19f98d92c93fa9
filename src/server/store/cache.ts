/** What a cache holds and has done since it was made, for the metrics. */
export interface CacheFigures {
  /** The weight held, in the unit of the capacity. */
  readonly entries: number;
  readonly capacity: number;
  readonly hits: number;
  readonly misses: number;
  /** Entries dropped to stay within the capacity (a clear is not counted). */
  readonly evictions: number;
}

/**
 * A bounded least-recently-used map. Map keeps insertion order, so re-inserting on each hit
 * moves an entry to the end and the first key is always the least recently used. Each entry
 * weighs 1 unless set says otherwise; the capacity bounds the total weight.
 */
export class LruCache<V> {
  private readonly map = new Map<string, { value: V; weight: number }>();
  private total = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be a positive integer");
  }

  get size(): number {
    return this.map.size;
  }

  /** The sum of the entries' weights. */
  get weight(): number {
    return this.total;
  }

  figures(): CacheFigures {
    return { entries: this.total, capacity: this.capacity, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }

  get(key: string): V | undefined {
    const entry = this.map.get(key);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.map.delete(key);
    this.map.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, weight = 1): void {
    this.delete(key);
    this.map.set(key, { value, weight });
    this.total += weight;
    while (this.total > this.capacity && this.map.size > 1) {
      this.delete(this.map.keys().next().value as string);
      this.evictions++;
    }
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }

  delete(key: string): void {
    const entry = this.map.get(key);
    if (entry === undefined) return;
    this.map.delete(key);
    this.total -= entry.weight;
  }
}
