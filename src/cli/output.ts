import { once } from "node:events";
import type { Writable } from "node:stream";
import type { Tombstone } from "../client/subscribe.js";
import type { StoredEvent } from "../contract/events.js";
import type { PositionedEvent } from "../contract/types.js";

/**
 * Where results go: JSON (one value or one event per line) for pipes and --json, something
 * readable on a terminal. Writes wait for the stream to drain, so large outputs stay bounded.
 */
export class Output {
  constructor(
    private readonly stream: Writable,
    readonly json: boolean,
  ) {}

  async value(value: unknown): Promise<void> {
    await this.line(this.json ? JSON.stringify(value) : JSON.stringify(value, null, 2));
  }

  /** With a stream sequence (tail), a JSON line is `{sequence, event}`: piped output says where to resume (--from-seq). */
  async event(event: StoredEvent, sequence?: number): Promise<void> {
    if (this.json) return this.line(JSON.stringify(sequence === undefined ? event : { sequence, event }));
    const seq = sequence === undefined ? "" : `#${sequence}  `;
    await this.line(`${seq}${event.actorId}  v${event.version}  ${event.eventType}  ${event.timestamp}  ${JSON.stringify(event.data)}`);
  }

  /** An event of the log (read): a JSON line is `{position, event}`, as the reply gives it. */
  async positioned(entry: PositionedEvent): Promise<void> {
    if (this.json) return this.line(JSON.stringify(entry));
    const { event } = entry;
    const tags = event.tags?.length ? `  [${event.tags.join(", ")}]` : "";
    await this.line(
      `@${entry.position}  ${event.actorId}  v${event.version}  ${event.eventType}${tags}  ${event.timestamp}  ${JSON.stringify(event.data)}`,
    );
  }

  async erased(tombstone: Tombstone, sequence?: number): Promise<void> {
    if (this.json) return this.line(JSON.stringify(sequence === undefined ? { erased: tombstone } : { sequence, erased: tombstone }));
    const seq = sequence === undefined ? "" : `#${sequence}  `;
    await this.line(`${seq}${tombstone.actorId}  erased at v${tombstone.version}  ${tombstone.erasedAt}`);
  }

  async table(rows: Record<string, string | number>[]): Promise<void> {
    if (this.json) return this.line(JSON.stringify(rows));
    const headers = Object.keys(rows[0] ?? {});
    const cells = [headers, ...rows.map((r) => headers.map((h) => String(r[h])))];
    const widths = headers.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
    for (const c of cells)
      await this.line(
        c
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join("  ")
          .trimEnd(),
      );
  }

  async line(text: string): Promise<void> {
    if (!this.stream.write(text + "\n")) await once(this.stream, "drain");
  }

  /** Ends a stream this output owns (a file), resolving once all of it is written. */
  close(): Promise<void> {
    return new Promise((resolve, reject) => this.stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}
