import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { Headers } from "../../src/contract/subjects.js";
import type { Event } from "../../src/contract/types.js";
import type { NamedStreamConfig } from "../../src/server.js";
import { ROOT } from "./service-process.js";

const SCRIPT = join(ROOT, "test", "harness", "replace-stream.mjs");

/** A message as replace-stream.mjs publishes it. */
export interface StreamMessage {
  subject: string;
  headers: Record<string, string>;
  data: string;
}

/** An event as the store would publish it on its subject. */
export function eventMessage(subject: string, event: Event): StreamMessage {
  return { subject, headers: { [Headers.version]: String(event.version) }, data: JSON.stringify(event) };
}

/**
 * Blocks this process, at least `stallMs`, while another process deletes the stream, creates it
 * again and fills it with `messages`: a replica that stalls (a long GC or event-loop stall) while
 * an operator replaces its stream. Nothing of this process runs meanwhile: no timer, no read of
 * its connections, no promise that was already settled.
 */
export function replaceStreamWhileStalled(url: string, config: NamedStreamConfig, messages: StreamMessage[], stallMs = 600): void {
  const start = performance.now();
  execFileSync(process.execPath, [SCRIPT], { input: JSON.stringify({ url, config, messages }), timeout: 20_000 });
  const rest = stallMs - (performance.now() - start);
  if (rest > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, rest);
}
