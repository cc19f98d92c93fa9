// A write that keeps losing the expectation race to other writers of higher versions ends as a
// conflict by itself; this bound only stops a livelock against writers that never finish. One
// bound, one count, for the three writes that race: events, the tombstone, snapshots.
const MAX_WRITE_ATTEMPTS = 10;

/** The races one write loses against the stream's expectations (another writer moved the subject first). */
export class Races {
  private lostCount = 0;

  /** The error a write that gives up throws (also when it waited too long for writes in flight). */
  constructor(readonly giveUp: () => Error) {}

  /** One more race lost: the write tries again, or throws giveUp() when it has lost too many. */
  lost(): void {
    if (++this.lostCount >= MAX_WRITE_ATTEMPTS) throw this.giveUp();
  }
}
