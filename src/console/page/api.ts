// The console server's API as the page calls it. Every failure is an ApiError with the contract's
// code and message, so that each view can show it in words.

const token = document.querySelector<HTMLMetaElement>('meta[name="console-token"]')?.content ?? "";

export class ApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export async function getJson<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") params.set(k, String(v));
  const qs = params.toString();
  return answer<T>(await send(qs ? `${path}?${qs}` : path, { headers: { "X-Console-Token": token } }));
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  return answer<T>(
    await send(path, {
      method: "POST",
      headers: { "X-Console-Token": token, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
}

async function send(path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, `the console server cannot be reached (${(err as Error).message}): is nats-eventstore console still running?`);
  }
}

async function answer<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(res.status, text.trim() || `HTTP ${res.status}`);
  }
  const error = (body as { error?: { code?: number; message?: string } }).error;
  if (!res.ok || error) throw new ApiError(error?.code ?? res.status, error?.message ?? `HTTP ${res.status}`);
  return body as T;
}

/** The live tail's stream of server-sent events; the cookie set with the page authorises it. */
export function tailSource(query: Record<string, string>): EventSource {
  const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== ""));
  return new EventSource(`/api/tail?${params}`);
}
