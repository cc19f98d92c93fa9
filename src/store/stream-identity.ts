import type { NatsConnection } from "@nats-io/transport-node";
import type { Requester } from "../jetstream/requester.js";
import { StreamWatch } from "../jetstream/streams.js";

/**
 * Tells a replica that a stream it has learned about is no longer the same stream: deleted and
 * created again, or its storage replaced. Sequences start over in a new stream, so a remembered
 * head could match the new stream's sequence and let a write through at the wrong version.
 * Every hint (an advisory, a reconnect) forgets at once; a look that finds another creation time
 * forgets too.
 */
export class StreamIdentity {
  private readonly created = new Map<string, string | null>();
  private readonly watch: StreamWatch;

  constructor(nc: NatsConnection, requester: Requester, streams: string[], changed: () => void) {
    this.watch = new StreamWatch(nc, requester, streams, {
      hint: changed,
      seen: (stream, created) => {
        if (this.created.has(stream) && this.created.get(stream) !== created) changed();
        this.created.set(stream, created);
      },
    });
  }

  /** A stream did not answer: look whether it is still the same one, unless a look is under way. */
  suspect(): void {
    this.watch.suspect();
  }

  stop(): void {
    this.watch.stop();
  }
}
