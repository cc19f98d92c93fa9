import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";

export interface Line {
  /** From 1, as an editor shows it. */
  number: number;
  text: string;
}

/** An input that can be read more than once: a file is reopened, stdin is kept in memory. */
export type LineSource = { name: string; lines: () => AsyncIterable<Line> };

export async function openLines(path: string, stdin: Readable): Promise<LineSource> {
  if (path !== "-") return { name: path, lines: () => numbered(createReadStream(path)) };
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return { name: "stdin", lines: () => numbered(Readable.from([text])) };
}

async function* numbered(input: Readable): AsyncGenerator<Line> {
  let number = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    number++;
    yield { number, text };
  }
}
