/** One message of a memory stream, as JetStream would hold it. */
export interface MemoryMsg {
  seq: number;
  subject: string;
  version: number;
  json: Uint8Array;
  /** Set on an erased actor's tombstone. */
  erasedAt?: string;
}

/**
 * A stream in memory that numbers, deletes and purges messages as a JetStream stream does:
 * sequences only grow, a purge keeps the last sequence, a new stream starts again at 1. The
 * memory store keeps nothing beside it, so it always answers from the stream as it is now.
 */
export class MemoryStream {
  private readonly messages = new Map<number, MemoryMsg>();
  private readonly bySubject = new Map<string, number[]>();
  private last = 0;

  /** @param maxPerSubject keep at most this many messages per subject, dropping the oldest (0: no bound). */
  constructor(private readonly maxPerSubject = 0) {}

  publish(subject: string, version: number, json: Uint8Array, erasedAt?: string): number {
    const seq = ++this.last;
    this.messages.set(seq, erasedAt ? { seq, subject, version, json, erasedAt } : { seq, subject, version, json });
    const seqs = this.bySubject.get(subject) ?? [];
    seqs.push(seq);
    this.bySubject.set(subject, seqs);
    if (this.maxPerSubject > 0 && seqs.length > this.maxPerSubject) this.delete(seqs[0]!);
    return seq;
  }

  /** The subject's messages in stream order. */
  subject(subject: string): MemoryMsg[] {
    return (this.bySubject.get(subject) ?? []).map((seq) => this.messages.get(seq)!);
  }

  lastOf(subject: string): MemoryMsg | undefined {
    const seq = this.bySubject.get(subject)?.at(-1);
    return seq === undefined ? undefined : this.messages.get(seq);
  }

  /** The last sequence the stream assigned (0 when none): a deletion or a purge keeps it, as JetStream's last_seq. */
  get lastSeq(): number {
    return this.last;
  }

  /** The messages from `from` on (inclusive) in stream order, or with `backwards` from `from` down. */
  *range(from: number, backwards = false): Generator<MemoryMsg> {
    // The map holds messages in the order they were published, which is sequence order.
    const all = [...this.messages.values()];
    if (!backwards) {
      for (const m of all) if (m.seq >= from) yield m;
      return;
    }
    for (let i = all.length - 1; i >= 0; i--) if (all[i]!.seq <= from) yield all[i]!;
  }

  get(seq: number): MemoryMsg | undefined {
    return this.messages.get(seq);
  }

  delete(seq: number): boolean {
    const msg = this.messages.get(seq);
    if (!msg) return false;
    this.messages.delete(seq);
    const seqs = this.bySubject.get(msg.subject)!;
    seqs.splice(seqs.indexOf(seq), 1);
    if (seqs.length === 0) this.bySubject.delete(msg.subject);
    return true;
  }

  /** Removes every message, or one subject's but for its last `keep`, as JetStream's purge does. */
  purge(subject?: string, keep = 0): number {
    const all = subject === undefined ? [...this.messages.keys()] : [...(this.bySubject.get(subject) ?? [])];
    const seqs = all.slice(0, Math.max(0, all.length - keep));
    for (const seq of seqs) this.delete(seq);
    return seqs.length;
  }
}
