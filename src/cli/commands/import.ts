import type { EventStoreClient } from "../../client/client.js";
import { discoverMaxRequestBytes } from "../../client/discovery.js";
import { ValidationError } from "../../contract/errors.js";
import type { SaveRequest } from "../../contract/types.js";
import { RequestValidator } from "../../server/service/validation.js";
import { checkStoredSize, encode } from "../../server/store/encode.js";
import { DEFAULT_MAX_PAYLOAD, type EventLimits, maxStoredEventBytes } from "../../server/store/event-store.js";
import { integerFlag, positionals } from "../args.js";
import type { Command } from "../context.js";
import { type LineSource, openLines } from "../ndjson.js";
import { Progress } from "../progress.js";
import { describeError, plural } from "../report.js";
import { InputError, UsageError } from "../usage.js";

const DEFAULT_CONCURRENCY = 32;
const encoder = new TextEncoder();

/**
 * NDJSON events back into the store, each through the service's save so that every version rule
 * holds. The whole input is checked first (JSON and the event schema, line by line), so a bad line
 * stores nothing at all. Then events are saved in file order per actor, several actors at a time;
 * an event already stored comes back as a duplicate, which makes a re-run safe.
 */
export const importEvents: Command = (args, flags) => {
  const [path = "-"] = positionals(args, ["file|-"], 1);
  const concurrency = integerFlag(flags, "concurrency", DEFAULT_CONCURRENCY, 1);
  return async ({ client, nc, config, stdin, stderr, out, timeoutMs }) => {
    if (path === "-" && stdin.isTTY) throw new UsageError("import reads NDJSON: give a file, or pipe it into stdin");
    // The service's own limits, so that the check refuses what the service would refuse mid-way.
    const limits = {
      maxPayload: nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD,
      maxRequestBytes: await discoverMaxRequestBytes(nc, timeoutMs),
    };
    const source = await openLines(path, stdin);
    try {
      const validator = new RequestValidator({
        maxDepth: config.maxDepth,
        maxRequestBytes: limits.maxRequestBytes ?? Number.MAX_SAFE_INTEGER,
      });
      const total = await check(source, validator, limits);
      const progress = new Progress(stderr, "import", total);
      const result = await send(client, source, concurrency, progress);
      progress.finish();
      stderr.write(`imported ${plural(result.imported, "event")}, ${result.duplicates} already stored, from ${source.name}\n`);
      await out.value(result);
    } finally {
      source.close();
    }
  };
};

/**
 * Checks every line as the service will (JSON, the event schema, its size as stored); returns how
 * many events there are. Blank lines are skipped.
 */
async function check(source: LineSource, validator: RequestValidator, limits: EventLimits): Promise<number> {
  let count = 0;
  for await (const line of source.lines()) {
    if (line.text.trim() === "") continue;
    try {
      JSON.parse(line.text);
    } catch (err) {
      throw new InputError(source.name, line.number, `not valid JSON: ${(err as Error).message}`);
    }
    try {
      const bytes = encoder.encode(line.text);
      const event = validator.parse("save", bytes);
      checkStoredSize(encode(event, bytes).json, maxStoredEventBytes(event.actorId, limits), "/");
    } catch (err) {
      const first = err instanceof ValidationError ? err.errors[0] : undefined;
      throw new InputError(
        source.name,
        line.number,
        `not a valid event: ${first ? `${first.path} ${first.message}` : (err as Error).message}`,
      );
    }
    count++;
  }
  return count;
}

interface ImportResult {
  imported: number;
  duplicates: number;
}

async function send(client: EventStoreClient, source: LineSource, concurrency: number, progress: Progress): Promise<ImportResult> {
  const result: ImportResult = { imported: 0, duplicates: 0 };
  // Per actor, the last save queued: the next one of that actor waits for it, so versions go in file order.
  const chains = new Map<string, Promise<void>>();
  const running = new Set<Promise<void>>();
  let failure: { line: number; reason: string } | undefined;
  for await (const line of source.lines()) {
    if (line.text.trim() === "") continue;
    while (running.size >= concurrency) await Promise.race(running);
    if (failure) break;
    const { actorId } = JSON.parse(line.text) as SaveRequest;
    const task = (chains.get(actorId) ?? Promise.resolve()).then(async () => {
      if (failure) return;
      try {
        // The line's own bytes: what was exported is stored again byte for byte.
        const reply = await client.saveJson(encoder.encode(line.text));
        result[reply.duplicate ? "duplicates" : "imported"]++;
        progress.tick();
      } catch (err) {
        failure ??= { line: line.number, reason: describeError(err) };
      }
    });
    chains.set(actorId, task);
    running.add(task);
    void task.then(() => {
      running.delete(task);
      if (chains.get(actorId) === task) chains.delete(actorId);
    });
  }
  await Promise.all(running);
  if (failure) {
    throw new InputError(
      source.name,
      failure.line,
      `${failure.reason}\n${plural(result.imported, "event")} imported before it stopped (${result.duplicates} were already stored); ` +
        `importing the same input again is safe`,
    );
  }
  return result;
}
