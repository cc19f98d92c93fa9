import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Requester } from "../jetstream/requester.js";
import { onStreamReplaced, streamCreated } from "../jetstream/streams.js";

// How often the streams' identity is checked besides the advisories, which a disconnected or
// briefly unsubscribed replica can miss.
const CHECK_INTERVAL_MS = 2000;

/**
 * Tells a replica that a stream it has learned about is no longer the same stream: deleted and
 * created again, or its storage replaced. Sequences start over in a new stream, so a remembered
 * head could match the new stream's sequence and let a write through at the wrong version.
 * JetStream announces creation, deletion and restores on advisory subjects; a reconnect may mean a
 * server with other storage; and a periodic look at each stream's creation time catches the rest.
 */
export class StreamIdentity {
  private readonly created = new Map<string, string | null>();
  private readonly subs: Subscription[] = [];
  private readonly timer: NodeJS.Timeout;
  private stopped = false;
  private checking = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly requester: Requester,
    private readonly streams: string[],
    private readonly changed: () => void,
  ) {
    for (const stream of streams) {
      this.subs.push(
        onStreamReplaced(nc, stream, () => {
          this.changed();
          this.check();
        }),
      );
    }
    void this.watchReconnects();
    this.timer = setInterval(() => this.check(), CHECK_INTERVAL_MS);
    this.timer.unref();
    this.check();
  }

  /** A stream did not answer: look whether it is still the same one, unless a look is under way. */
  suspect(): void {
    if (!this.checking) this.check();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const sub of this.subs) sub.unsubscribe();
  }

  private async watchReconnects(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.stopped) return;
      // The server may be another one, or the same with other storage.
      if (s.type === "reconnect") {
        this.changed();
        this.check();
      }
    }
  }

  private check(): void {
    this.checking = true;
    void Promise.all(this.streams.map((s) => streamCreated(this.requester, s))).then((now) => {
      this.checking = false;
      let differs = false;
      now.forEach((created, i) => {
        const stream = this.streams[i]!;
        // undefined: not known (no answer); null: the stream is missing.
        if (created === undefined) return;
        if (this.created.has(stream) && this.created.get(stream) !== created) differs = true;
        this.created.set(stream, created);
      });
      if (differs) this.changed();
    });
  }
}
