import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type EventStoreError, NotFoundError, type ProjectionResetTo, toEventStoreError, ValidationError } from "../../index.js";
import { type ConsoleApi, EVENTS_PAGE } from "./api.js";
import { CSS, indexHtml } from "./assets.js";
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
 * Serves the console on host:port (0: any free port). Nothing is served without the run's token:
 * in the URL (`?token=`), then in a cookie the first page sets, or in the header the page sends
 * with every change (a cookie alone cannot change anything, so that no other site can).
 */
export async function startConsoleServer(api: ConsoleApi, host: string, port: number): Promise<ConsoleServer> {
  const token = randomBytes(24).toString("base64url");
  let cookieName = "";
  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, toEventStoreError(err));
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://console");
    const fromQuery = url.searchParams.get("token");
    const fromCookie = cookie(req, cookieName);
    const fromHeader = req.headers["x-console-token"];
    const headerOk = typeof fromHeader === "string" && same(fromHeader, token);
    if (!headerOk && !(fromQuery !== null && same(fromQuery, token)) && !(fromCookie !== undefined && same(fromCookie, token))) {
      res.writeHead(401, { ...SECURITY_HEADERS, "Content-Type": "text/plain; charset=utf-8" });
      res.end("401: this console needs the token printed with its URL\n");
      return;
    }
    if (req.method === "POST") {
      if (!headerOk) {
        // A cookie alone comes with any site's request: a change needs what only the page knows.
        res.writeHead(403, { ...SECURITY_HEADERS, "Content-Type": "application/json; charset=utf-8" });
        res.end(JSON.stringify({ error: { code: 403, message: "a change needs the X-Console-Token header" } }));
        return;
      }
      return sendJson(res, await post(url.pathname, await readBody(req)));
    }
    if (req.method !== "GET") {
      res.writeHead(405, { ...SECURITY_HEADERS, Allow: "GET, POST" });
      res.end();
      return;
    }
    if (url.pathname === "/") {
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        "Content-Type": "text/html; charset=utf-8",
        "Set-Cookie": `${cookieName}=${token}; HttpOnly; SameSite=Strict; Path=/`,
      });
      res.end(indexHtml(token));
      return;
    }
    if (url.pathname === "/favicon.ico") {
      res.writeHead(204, SECURITY_HEADERS);
      res.end();
      return;
    }
    if (url.pathname === "/console.css") {
      res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": "text/css; charset=utf-8" });
      res.end(CSS);
      return;
    }
    const pageFile = PAGE_FILE.exec(url.pathname)?.[1];
    if (pageFile !== undefined) return servePageFile(res, pageFile);
    if (url.pathname === "/api/tail") return tail(api.client, req, res, url.searchParams, SECURITY_HEADERS);
    return sendJson(res, await get(url.pathname, url.searchParams));
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
  // Cookies do not tell ports apart: each console's cookie is named for its port.
  cookieName = `eventstore_console_${bound}`;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${bound}/?token=${token}`,
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

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
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
