import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Every file under `dir` (message blocks, indexes, raft logs and snapshots, whatever the server
 * keeps) that holds `needle` byte for byte, with how many times: path relative to `dir` -> count.
 */
export function filesHolding(dir: string, needle: string): Map<string, number> {
  const bytes = Buffer.from(needle);
  const found = new Map<string, number>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    let content: Buffer;
    try {
      content = readFileSync(path);
    } catch (err) {
      // The server replaces files as it goes (a block rewritten through a temporary file).
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    let count = 0;
    for (let at = content.indexOf(bytes); at >= 0; at = content.indexOf(bytes, at + 1)) count++;
    if (count > 0) found.set(relative(dir, path), count);
  }
  return found;
}

/**
 * Looks at `dir` until no file holds `needle` or `timeoutMs` has passed; resolves to how long that
 * took, or to what still holds it on the deadline.
 */
export async function untilNoFileHolds(
  dir: string,
  needle: string,
  timeoutMs: number,
): Promise<{ ms: number } | { left: Map<string, number> }> {
  const start = Date.now();
  for (;;) {
    const left = filesHolding(dir, needle);
    if (left.size === 0) return { ms: Date.now() - start };
    if (Date.now() - start > timeoutMs) return { left };
    await sleep(500);
  }
}
