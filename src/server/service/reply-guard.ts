import type { Msg, NatsConnection, Subscription, SubscriptionOptions } from "@nats-io/transport-node";
import { ENDPOINT_NAMES, ENDPOINTS } from "../../contract/endpoints.js";
import type { Subjects } from "../../contract/subjects.js";
import type { Logger } from "../logger.js";
import { serviceInboxes } from "../nats/inbox.js";

/**
 * Subjects a reply must never go to: the store's streams (a reply there would be stored as an
 * event or snapshot), the system namespaces (a reply there is a JetStream API call such as a
 * purge, a KV write, a system request or another service's control message) and the inboxes where
 * the replicas' JetStream answers arrive (a reply there would pass for JetStream's answer to
 * another caller's request). A request asking for one came from someone using the service as a
 * confused deputy, not from a caller's inbox.
 */
export function forbiddenReplyPrefixes(subjects: Subjects, inboxPrefix: string): string[] {
  return [`${subjects.stream}.`, "$JS.", "$KV.", "$SYS.", "$SRV.", serviceInboxes.jetstream(inboxPrefix)];
}

export function isForbiddenReply(reply: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => reply.startsWith(p));
}

const endpointBySubject = new Map<string, string>(ENDPOINT_NAMES.map((name) => [ENDPOINTS[name].subject, name]));

const DROPPED = "dropped a request whose reply subject is not a caller's inbox";
/** Drops logged one by one in a window; past it they are counted, and the count logged when the window ends. */
export const DROPS_LOGGED_PER_WINDOW = 100;
export const DROP_WINDOW_MS = 10_000;

/**
 * The log of dropped requests, bounded: whoever may publish to an endpoint (or create a consumer
 * that delivers the stream to one: every stored event then arrives with a $JS.ACK reply) decides
 * how many there are. The first DROPS_LOGGED_PER_WINDOW of a window are logged with their
 * subjects; the rest become one line with their count per endpoint when the window ends.
 */
class DropLog {
  private logged = 0;
  private counted = new Map<string, number>();
  private window: NodeJS.Timeout | undefined;

  constructor(private readonly log: Logger) {}

  dropped(endpoint: string, subject: string, reply: string): void {
    this.window ??= setTimeout(() => this.endWindow(), DROP_WINDOW_MS).unref();
    if (this.logged < DROPS_LOGGED_PER_WINDOW) {
      this.logged++;
      // The payload may be anything the sender chose: only the subjects are logged.
      this.log.warn({ endpoint, subject, reply }, DROPPED);
      return;
    }
    this.counted.set(endpoint, (this.counted.get(endpoint) ?? 0) + 1);
  }

  private endWindow(): void {
    const byEndpoint = Object.fromEntries(this.counted);
    const dropped = [...this.counted.values()].reduce((a, b) => a + b, 0);
    if (dropped > 0) this.log.warn({ dropped, byEndpoint, windowMs: DROP_WINDOW_MS }, `${DROPPED}: more of them, not logged one by one`);
    this.window = undefined;
    this.logged = 0;
    this.counted = new Map();
  }
}

/**
 * The connection as the micro service library sees it: every message a subscription receives
 * with a forbidden reply subject is dropped (and logged, boundedly) before the library or a
 * handler sees it, so neither an endpoint nor the library's own PING, INFO and STATS handlers can answer it.
 */
export function replyGuardedConnection(nc: NatsConnection, subjects: Subjects, inboxPrefix: string, log: Logger): NatsConnection {
  const prefixes = forbiddenReplyPrefixes(subjects, inboxPrefix);
  const drops = new DropLog(log);
  const subscribe = (subject: string, opts: SubscriptionOptions = {}): Subscription => {
    const callback = opts.callback;
    if (!callback) throw new Error(`the reply guard needs a callback subscription (${subject})`);
    return nc.subscribe(subject, {
      ...opts,
      callback: (err, msg: Msg) => {
        if (!err && msg.reply && isForbiddenReply(msg.reply, prefixes)) {
          drops.dropped(endpointBySubject.get(msg.subject) ?? msg.subject, msg.subject, msg.reply);
          return;
        }
        callback(err, msg);
      },
    });
  };
  return new Proxy(nc, {
    get(target, property) {
      if (property === "subscribe") return subscribe;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
