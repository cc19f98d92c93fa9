import { type ApiError, JetStreamApiCodes } from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";

// A stream's identity, which both sides rely on: the service's caches and the client's
// subscriptions hold sequences that are only good for the stream they were read from.

const decoder = new TextDecoder();

/** One JetStream API request: each side sends it its own way (the service through its Requester). */
export type StreamRequest = (subject: string, data: Uint8Array) => Promise<Msg>;

/**
 * When the stream was created, as its leader says: null when it does not exist, undefined when
 * nothing answered (or JetStream answered something else, such as not being ready after a restart).
 * A stream deleted and created again has a new creation time.
 */
export async function streamCreated(request: StreamRequest, stream: string): Promise<string | null | undefined> {
  try {
    const reply = await request(`$JS.API.STREAM.INFO.${stream}`, new Uint8Array());
    const info = JSON.parse(decoder.decode(reply.data)) as { created?: string; error?: ApiError };
    if (info.error) return info.error.err_code === JetStreamApiCodes.StreamNotFound ? null : undefined;
    return info.created;
  } catch {
    return undefined;
  }
}

// Advisories of a stream that is not the one it was: gone, new, or restored from a backup.
const REPLACED = new Set(["CREATED", "DELETED", "RESTORE_COMPLETE"]);

/** Calls `replaced` whenever JetStream announces that the stream was created, deleted or restored. */
export function onStreamReplaced(nc: NatsConnection, stream: string, replaced: () => void): Subscription {
  return nc.subscribe(`$JS.EVENT.ADVISORY.STREAM.*.${stream}`, {
    callback: (err, msg) => {
      if (!err && REPLACED.has(msg.subject.split(".")[4]!)) replaced();
    },
  });
}

export interface StreamWatchListener {
  /** Something may have changed: JetStream announced it, or the connection came back (maybe to another server). A look follows. */
  hint(cause: "advisory" | "reconnect"): void;
  /** What a look found: the stream's creation time, null when it is missing. Not called when nothing answered. */
  seen(stream: string, created: string | null): void;
}

// How often the streams are looked at besides the advisories, which a disconnected or briefly
// unsubscribed watcher can miss (or may not be permitted to receive).
const LOOK_INTERVAL_MS = 2000;

/**
 * Watches the identity of streams, which is their creation time: a stream deleted and created
 * again, or its storage replaced, is another stream, whose sequences start over. JetStream
 * announces creation, deletion and restores on advisory subjects; a reconnect may mean a server
 * with other storage; a look at each stream's creation time every 2 s catches the rest.
 * The one rule both the service (its caches) and the client's subscriptions rely on.
 */
export class StreamWatch {
  private readonly subs: Subscription[] = [];
  private readonly timer: NodeJS.Timeout;
  private stopped = false;
  private looking = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly request: StreamRequest,
    private readonly streams: string[],
    private readonly listener: StreamWatchListener,
  ) {
    for (const stream of streams) {
      this.subs.push(
        onStreamReplaced(nc, stream, () => {
          this.listener.hint("advisory");
          void this.look();
        }),
      );
    }
    void this.watchReconnects();
    this.timer = setInterval(() => void this.look(), LOOK_INTERVAL_MS);
    this.timer.unref();
    void this.look();
  }

  /** A stream did not answer: look whether it is still the same one, unless a look is under way. */
  suspect(): void {
    if (!this.looking) void this.look();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const sub of this.subs) sub.unsubscribe();
  }

  private async watchReconnects(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.stopped) return;
      if (s.type === "reconnect") {
        this.listener.hint("reconnect");
        void this.look();
      }
    }
  }

  /** Looks at every stream now (the listener hears what it finds); resolves to whether all of them answered. */
  look(): Promise<boolean> {
    this.looking = true;
    return Promise.all(this.streams.map((s) => streamCreated(this.request, s))).then((now) => {
      this.looking = false;
      if (this.stopped) return false;
      now.forEach((created, i) => {
        if (created !== undefined) this.listener.seen(this.streams[i]!, created);
      });
      return now.every((created) => created !== undefined);
    });
  }
}
