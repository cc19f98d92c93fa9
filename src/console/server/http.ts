import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type EventStoreError, NotFoundError, type ProjectionResetTo, toEventStoreError, ValidationError } from "../../index.js";
import { type ConsoleApi, EVENTS_PAGE } from "./api.js";
import { CSS, INDEX_HTML } from "./assets.js";
import { tail } from "./tail.js";

/** The page's compiled modules (src/console/page, built by tsc into dist beside this folder). */
const PAGE_DIR = join(import.meta.dirname, "..", "page");
const PAGE_FILE = /^\/page\/([a-z-]+\.js)$/;
/** The largest request body the API reads (an erase, a reset): a few hundred bytes in practice. */
const MAX_BODY_BYTES = 16 * 1024;

// Every answer, the page included: nothing from elsewhere, no framing, no referrer (the URL
// carries the token), nothing cached.
const SECURITY_HEADERS = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
};

export interface ConsoleServer {
  /** The address to open, token included. */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the console on host:port (0: any free port) under `/<token>/`, the run's random token:
 * the page, its code and the API; anything else is refused. No cookie holds the token: browsers
 * send a host's cookies to each of its ports (RFC 6265 §8.5), so any other local server the
 * browser visits would get it. A change also needs the token in a header, from the page's origin.
 */
export async function startConsoleServer(api: ConsoleApi, host: string, port: number): Promise<ConsoleServer> {
  const token = randomBytes(24).toString("base64url");
  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, toEventStoreError(err));
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://console");
    // "/<token>/rest": the token is the first segment, the route what follows it.
    const end = url.pathname.indexOf("/", 1);
    if (end < 0 || !same(url.pathname.slice(1, end), token)) {
      res.writeHead(401, { ...SECURITY_HEADERS, "Content-Type": "text/plain; charset=utf-8" });
      res.end("401: this console is served only at the URL it printed, token included\n");
      return;
    }
    const path = url.pathname.slice(end);
    if (req.method === "POST") {
      const fromHeader = req.headers["x-console-token"];
      if (typeof fromHeader !== "string" || !same(fromHeader, token) || !fromOwnOrigin(req)) {
        // Only the page's own script sets the header, and a browser sends it cross-origin only
        // after a preflight this server never answers: a link or form elsewhere cannot change anything.
        res.writeHead(403, { ...SECURITY_HEADERS, "Content-Type": "application/json; charset=utf-8" });
        res.end(
          JSON.stringify({ error: { code: 403, message: "a change needs the X-Console-Token header, from the console's own page" } }),
        );
        return;
      }
      return sendJson(res, await post(path, await readBody(req)));
    }
    if (req.method !== "GET") {
      res.writeHead(405, { ...SECURITY_HEADERS, Allow: "GET, POST" });
      res.end();
      return;
    }
    if (path === "/") {
      res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": "text/html; charset=utf-8" });
      res.end(INDEX_HTML);
      return;
    }
    if (path === "/console.css") {
      res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": "text/css; charset=utf-8" });
      res.end(CSS);
      return;
    }
    const pageFile = PAGE_FILE.exec(path)?.[1];
    if (pageFile !== undefined) return servePageFile(res, pageFile);
    if (path === "/api/tail") return tail(api.client, req, res, url.searchParams, SECURITY_HEADERS);
    return sendJson(res, await get(path, url.searchParams));
  }

  async function get(path: string, q: URLSearchParams): Promise<unknown> {
    switch (path) {
      case "/api/replicas":
        return api.replicas();
      case "/api/stream":
        return api.stream();
      case "/api/types":
        return api.types();
      case "/api/actors":
        return api.actors(required(q, "type"), q.get("prefix") ?? "", integer(q, "offset", 0, 0));
      case "/api/actor":
        return api.actor(required(q, "id"));
      case "/api/events":
        return api.events(required(q, "id"), integer(q, "from", 0, 0), integer(q, "limit", EVENTS_PAGE, 1));
      case "/api/projections":
        return api.projections();
      default:
        throw new NotFoundError(`no such path: ${path}`);
    }
  }

  async function post(path: string, body: Record<string, unknown>): Promise<unknown> {
    switch (path) {
      case "/api/erase":
        return api.erase(text(body, "actorId"), text(body, "confirm"), optionalText(body, "reason"));
      case "/api/projections/reset":
        return { resetTo: await api.resetProjection(text(body, "name"), text(body, "confirm"), resetTarget(body)) };
      case "/api/projections/remove":
        return { removed: await api.removeProjection(text(body, "name"), text(body, "confirm")) };
      default:
        throw new NotFoundError(`no such path: ${path}`);
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${bound}/${token}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function servePageFile(res: ServerResponse, name: string): Promise<void> {
  let body: Buffer;
  try {
    body = await readFile(join(PAGE_DIR, name));
  } catch {
    return sendError(res, new NotFoundError(`no such page file: ${name}`));
  }
  res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": "text/javascript; charset=utf-8" });
  res.end(body);
}

function sendJson(res: ServerResponse, value: unknown): void {
  res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(value));
}

/** The contract's error body, with its code as the HTTP status too. */
function sendError(res: ServerResponse, err: EventStoreError): void {
  const body = err.toBody();
  res.writeHead(body.error.code, { ...SECURITY_HEADERS, "Content-Type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(body));
}

function same(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * False when the browser says the request comes from another site or origin (Sec-Fetch-Site, or
 * Origin for browsers without it); requests without either (curl, a script) carry the header
 * and the token already.
 */
function fromOwnOrigin(req: IncomingMessage): boolean {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin") return false;
  const origin = req.headers.origin;
  return origin === undefined || origin === `http://${req.headers.host}`;
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ValidationError(`the request body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new ValidationError("the request body is not JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ValidationError("the request body is not a JSON object");
  return body as Record<string, unknown>;
}

function required(q: URLSearchParams, name: string): string {
  const value = q.get(name);
  if (value === null || value === "") throw new ValidationError(`the query needs ${name}`);
  return value;
}

function integer(q: URLSearchParams, name: string, fallback: number, min: number): number {
  const raw = q.get(name);
  if (raw === null) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
    throw new ValidationError(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

function text(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== "string") throw new ValidationError(`${name} must be a string`);
  return value;
}

function optionalText(body: Record<string, unknown>, name: string): string | undefined {
  return body[name] === undefined ? undefined : text(body, name);
}

/** `{"to": "start"}`, `{"to": {"seq": N}}` or `{"to": {"time": "RFC 3339"}}`. */
function resetTarget(body: Record<string, unknown>): ProjectionResetTo {
  const to = body.to as { seq?: unknown; time?: unknown } | string | undefined;
  if (to === "start") return "start";
  if (typeof to === "object" && to !== null) {
    if (typeof to.seq === "number" && Number.isSafeInteger(to.seq) && to.seq >= 1) return { seq: to.seq };
    if (typeof to.time === "string" && !Number.isNaN(new Date(to.time).getTime())) return { time: to.time };
  }
  throw new ValidationError('to must be "start", {"seq": N} (N >= 1) or {"time": "an RFC 3339 time"}');
}
