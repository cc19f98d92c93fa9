import type { NatsConnection } from "@nats-io/transport-node";

export interface Reply {
  /** 0 for success, else the Nats-Service-Error-Code. */
  code: number;
  /** The Nats-Service-Error header, when there is one. */
  errorHeader?: string;
  body: Record<string, unknown>;
  bytes: number;
}

/** Sends one request to an eventstore endpoint and decodes the reply, error or not. */
export async function request(nc: NatsConnection, subject: string, body: unknown, timeout = 10_000): Promise<Reply> {
  const payload = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
  const msg = await nc.request(subject, payload, { timeout });
  const code = Number(msg.headers?.get("Nats-Service-Error-Code") || "0");
  return {
    code,
    errorHeader: msg.headers?.get("Nats-Service-Error") || undefined,
    body: msg.data.length > 0 ? (JSON.parse(new TextDecoder().decode(msg.data)) as Record<string, unknown>) : {},
    bytes: msg.data.length,
  };
}

/** Every event of an actor, following hasMore across pages. */
export async function readAll<E = Record<string, unknown>>(nc: NatsConnection, actorId: string): Promise<E[]> {
  const out: E[] = [];
  for (let from = 0; ; ) {
    const page = await request(nc, "eventstore.events", { actorId, fromVersion: from });
    if (page.code !== 0) throw new Error(`events answered ${page.code}: ${JSON.stringify(page.body)}`);
    const events = page.body.events as (E & { version: number })[];
    out.push(...events);
    if (!page.body.hasMore) return out;
    from = events.at(-1)!.version;
  }
}

/**
 * Asks until the answer is not a transient failure (a 503, or a timeout while a cluster elects a
 * leader or a server restarts); conflicts and successes are answers.
 */
export async function untilAnswered(ask: () => Promise<Reply>, timeoutMs = 30_000): Promise<Reply> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await ask().catch((err: unknown) => err as Error);
    if (!(r instanceof Error) && r.code < 500) return r;
    if (Date.now() > deadline) throw new Error(`no answer within ${timeoutMs} ms: ${r instanceof Error ? r.message : JSON.stringify(r)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
