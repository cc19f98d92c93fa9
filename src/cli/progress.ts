import type { Writable } from "node:stream";

const WIDTH = 24;
const REDRAW_MS = 100;

/**
 * A one-line progress bar with rate and ETA, redrawn in place on a terminal. Off (it writes
 * nothing) when the stream is not a terminal, so that logs and pipes stay clean.
 */
export class Progress {
  private done = 0;
  private lastDraw = 0;
  private readonly started: number;
  private readonly on: boolean;

  constructor(
    private readonly stream: Writable & { isTTY?: boolean },
    private readonly label: string,
    private readonly total: number,
    private readonly now: () => number = Date.now,
  ) {
    this.on = stream.isTTY === true && total > 0;
    this.started = now();
  }

  tick(count = 1): void {
    this.done += count;
    if (!this.on) return;
    const t = this.now();
    if (t - this.lastDraw < REDRAW_MS && this.done < this.total) return;
    this.lastDraw = t;
    this.stream.write(`\r${this.render(t)}\u001b[K`);
  }

  /** Leaves the finished bar on its line. */
  finish(): void {
    if (this.on) this.stream.write(`\r${this.render(this.now())}\u001b[K\n`);
  }

  render(at: number): string {
    const fraction = Math.min(1, this.done / this.total);
    const filled = Math.round(fraction * WIDTH);
    const seconds = Math.max((at - this.started) / 1000, 0.001);
    const rate = this.done / seconds;
    const eta = rate > 0 ? (this.total - this.done) / rate : Infinity;
    return (
      `${this.label} [${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ` +
      `${Math.floor(fraction * 100)}% ${this.done}/${this.total} ${Math.round(rate)}/s ETA ${formatSeconds(eta)}`
    );
  }
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "--";
  if (s < 60) return `${Math.ceil(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, "0")}s`;
}
