import { createReadStream, createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface Line {
  /** From 1, as an editor shows it. */
  number: number;
  text: string;
}

/** An input that can be read more than once; close() removes what was kept of it. */
export type LineSource = { name: string; lines: () => AsyncIterable<Line>; close: () => void };

/**
 * A file is reopened for each read. Stdin can be read once only, so it is first copied to a
 * temporary file, streaming: an input of any size, larger than memory or than one string can be.
 */
export async function openLines(path: string, stdin: Readable): Promise<LineSource> {
  if (path !== "-") return { name: path, lines: () => numbered(createReadStream(path)), close: () => undefined };
  const dir = mkdtempSync(join(tmpdir(), "nats-eventstore-import-"));
  const copy = join(dir, "stdin.ndjson");
  const close = () => rmSync(dir, { recursive: true, force: true });
  try {
    await pipeline(stdin, createWriteStream(copy));
  } catch (err) {
    close();
    throw err;
  }
  return { name: "stdin", lines: () => numbered(createReadStream(copy)), close };
}

async function* numbered(input: Readable): AsyncGenerator<Line> {
  let number = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    number++;
    yield { number, text };
  }
}
