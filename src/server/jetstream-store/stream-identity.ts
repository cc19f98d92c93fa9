import type { NatsConnection } from "@nats-io/transport-node";
import { StreamWatch } from "../../contract/stream-watch.js";
import type { Requester } from "../jetstream/requester.js";

// A timer ticks this often, once per turn of the event loop at most, next to its reads of the
// connections. A tick (or a write's check) that comes more than MAX_GAP_MS after the last tick
// means the process did not run meanwhile (stopped, a long stall of its event loop) and has not
// read what the server sent it in that time, an announcement that a stream was replaced included.
// Each tick also sends a PING on the connection (when none is out): its PONG says that everything
// the server sent before the PING has been read. A connection not heard so for over MAX_GAP_MS
// (stalled on the network, its node paused) may hold such an announcement unread too.
// The smaller the gap allowed, the shorter the time in which a replacement can go unnoticed; a
// gap costs one look at the streams.
const TICK_MS = 50;
const MAX_GAP_MS = 250;

/**
 * Tells a replica that a stream it has learned about is no longer the same stream: deleted and
 * created again, or its storage replaced. Sequences start over in a new stream, so a remembered
 * head could match the new stream's sequence and let a write through at the wrong version.
 * Every hint (an advisory, a reconnect) forgets at once; a look that finds another creation time
 * forgets too.
 *
 * A replica that did not run for a while (a pause, a stall) has not heard the hints of that time
 * yet: they wait on its connection behind requests it may already be answering. So it keeps
 * watch over its own running, and after a gap trusts nothing it remembers until a look at the
 * streams, made after the gap, has confirmed them.
 */
export class StreamIdentity {
  private readonly created = new Map<string, string | null>();
  private readonly watch: StreamWatch;
  private readonly ticker: NodeJS.Timeout;
  private lastTick = performance.now();
  // Gaps seen in this process's running, and how many of them a look made after them has covered.
  private gaps = 0;
  private confirmedGaps = 0;
  private confirming?: Promise<boolean>;
  // When the last PING was sent whose PONG has come back: all the server sent before it is read.
  private heardAt = performance.now();
  private pinging = false;

  constructor(
    private readonly nc: NatsConnection,
    requester: Requester,
    streams: string[],
    changed: () => void,
  ) {
    this.watch = new StreamWatch(nc, (subject, data) => requester.request(subject, data), streams, {
      hint: changed,
      seen: (stream, created) => {
        if (this.created.has(stream) && this.created.get(stream) !== created) changed();
        this.created.set(stream, created);
      },
    });
    this.ticker = setInterval(() => {
      this.noteGap();
      this.lastTick = performance.now();
      this.ping();
    }, TICK_MS);
    this.ticker.unref();
  }

  /**
   * Whether what the replica heard of the streams is complete but for the last moment: it has run
   * without a gap since the last look that covered a gap, and its connection has been heard from
   * within MAX_GAP_MS. A clock reading, no request.
   */
  confirmed(): boolean {
    this.noteGap();
    return this.confirmedGaps === this.gaps && performance.now() - this.heardAt <= MAX_GAP_MS;
  }

  /**
   * Looks at the streams now (forgetting on a change); resolves to false when they did not all
   * answer. Callers at the same time share a look; a look started before a gap (or before the
   * connection fell silent) does not cover it, and the caller asks again once it has answered.
   */
  confirm(): Promise<boolean> {
    if (this.confirming) return this.confirming;
    const gaps = this.gaps;
    const sentAt = performance.now();
    const confirming = this.watch.look().then((answered) => {
      this.confirming = undefined;
      if (answered) {
        this.confirmedGaps = Math.max(this.confirmedGaps, gaps);
        // Its answer came on the connection after everything the server sent before the look.
        this.heardAt = Math.max(this.heardAt, sentAt);
      }
      return answered;
    });
    this.confirming = confirming;
    return confirming;
  }

  /** A stream did not answer: look whether it is still the same one, unless a look is under way. */
  suspect(): void {
    this.watch.suspect();
  }

  stop(): void {
    clearInterval(this.ticker);
    this.watch.stop();
  }

  /** One PING out at a time; its PONG moves heardAt to when it was sent. */
  private ping(): void {
    if (this.pinging || this.nc.isClosed()) return;
    this.pinging = true;
    const sentAt = performance.now();
    this.nc.flush().then(
      () => {
        this.pinging = false;
        this.heardAt = Math.max(this.heardAt, sentAt);
      },
      () => {
        this.pinging = false;
      },
    );
  }

  /**
   * Counts a gap since the last tick, once: a write's check that finds one starts the gap's count
   * again, and the look that must follow lets the event loop read its connections.
   */
  private noteGap(): void {
    const now = performance.now();
    if (now - this.lastTick <= MAX_GAP_MS) return;
    this.gaps++;
    this.lastTick = now;
  }
}
