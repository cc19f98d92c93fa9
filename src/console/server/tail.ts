import type { IncomingMessage, ServerResponse } from "node:http";
import { type EventStoreClient, toEventStoreError } from "../../index.js";

/** A comment line this often keeps proxies and the browser from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;

/**
 * The live tail as server-sent events: each event stored from now on (of one actor type when
 * `actorType` is given, of one event type when `eventType` is), read from the stream with the
 * console's own connection. Messages: `ready` once it follows, `event` ({sequence, event} or
 * {sequence, erased}), `failure` (the contract's error body) when it cannot go on.
 */
export async function tail(
  client: EventStoreClient,
  req: IncomingMessage,
  res: ServerResponse,
  q: URLSearchParams,
  headers: Record<string, string>,
): Promise<void> {
  const actorType = q.get("actorType") || undefined;
  const eventType = q.get("eventType") || undefined;
  res.writeHead(200, { ...headers, "Content-Type": "text/event-stream; charset=utf-8", Connection: "keep-alive" });
  const send = (name: string, data: unknown) => res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  const keepalive = setInterval(() => res.write(": keepalive\n\n"), KEEPALIVE_MS);
  let sub: Awaited<ReturnType<EventStoreClient["subscribe"]>> | undefined;
  let closed = false;
  req.once("close", () => {
    closed = true;
    void sub?.stop();
  });
  try {
    sub = await client.subscribe({ actorType, onlyNew: true });
    if (closed) return;
    send("ready", { actorType: actorType ?? null, eventType: eventType ?? null });
    for await (const item of sub) {
      if (item.event && eventType !== undefined && item.event.eventType !== eventType) continue;
      // A tombstone names no event type: it is shown to a tail filtered by event type as well.
      send("event", item.event ? { sequence: item.sequence, event: item.event } : { sequence: item.sequence, erased: item.erased });
    }
  } catch (err) {
    if (!closed) send("failure", toEventStoreError(err).toBody());
  } finally {
    clearInterval(keepalive);
    await sub?.stop();
    res.end();
  }
}
