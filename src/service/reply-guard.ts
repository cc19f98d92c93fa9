import type { Msg, NatsConnection, Subscription, SubscriptionOptions } from "@nats-io/transport-node";
import { ENDPOINT_NAMES, ENDPOINTS } from "../endpoints.js";
import type { Logger } from "../logger.js";
import { serviceInboxes } from "../nats/inbox.js";
import type { Subjects } from "../subjects.js";

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

/**
 * The connection as the micro service library sees it: every message a subscription receives
 * with a forbidden reply subject is dropped (and logged) before the library or a handler sees it,
 * so neither an endpoint nor the library's own PING, INFO and STATS handlers can answer it.
 */
export function replyGuardedConnection(nc: NatsConnection, subjects: Subjects, inboxPrefix: string, log: Logger): NatsConnection {
  const prefixes = forbiddenReplyPrefixes(subjects, inboxPrefix);
  const subscribe = (subject: string, opts: SubscriptionOptions = {}): Subscription => {
    const callback = opts.callback;
    if (!callback) throw new Error(`the reply guard needs a callback subscription (${subject})`);
    return nc.subscribe(subject, {
      ...opts,
      callback: (err, msg: Msg) => {
        if (!err && msg.reply && isForbiddenReply(msg.reply, prefixes)) {
          // The payload may be anything the sender chose: only the subjects are logged.
          log.warn(
            { endpoint: endpointBySubject.get(msg.subject) ?? msg.subject, subject: msg.subject, reply: msg.reply },
            "dropped a request whose reply subject is not a caller's inbox",
          );
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
