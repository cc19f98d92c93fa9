/** What the store last saw at the end of an actor's history. */
export interface ActorHead {
  version: number;
  /** Stream sequence of the actor's last event; 0 when it has none. */
  seq: number;
}

/**
 * A bounded least-recently-used map. Map keeps insertion order, so re-inserting on each hit
 * moves an entry to the end and the first key is always the least recently used.
 */
export class LruCache<V> {
  private readonly map = new Map<string, V>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be a positive integer");
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) {
      this.map.delete(this.map.keys().next().value as string);
    }
  }

  delete(key: string): void {
    this.map.delete(key);
  }
}
