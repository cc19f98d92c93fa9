import type { Readable } from "node:stream";
import { UsageError } from "./usage.js";

/** A JSON object given as an argument, or read from stdin when the argument is "-". */
export async function jsonArgument(arg: string, stdin: Readable, what: string): Promise<Record<string, unknown>> {
  let text = arg;
  if (arg === "-") {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(chunk as Buffer);
    text = Buffer.concat(chunks).toString("utf8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`the ${what} is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new UsageError(`the ${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}
