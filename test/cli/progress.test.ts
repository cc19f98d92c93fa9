import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { Progress } from "../../src/cli/progress.js";

class Capture extends Writable {
  text = "";
  constructor(readonly isTTY: boolean) {
    super();
  }
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe("Progress", () => {
  it("shows done/total, rate and ETA from the elapsed time", () => {
    let now = 0;
    const p = new Progress(new Capture(true), "import", 1000, () => now);
    now = 2000;
    p.tick(250);
    expect(p.render(now)).toBe("import [######------------------] 25% 250/1000 125/s ETA 6s");
    now = 8000;
    p.tick(750);
    expect(p.render(now)).toBe("import [########################] 100% 1000/1000 125/s ETA 0s");
  });

  it("writes minutes past a minute, and no ETA before anything is done", () => {
    let now = 0;
    const p = new Progress(new Capture(true), "export", 10_000, () => now);
    expect(p.render(1000)).toContain("ETA --");
    now = 10_000;
    p.tick(1000);
    expect(p.render(now)).toContain("ETA 1m30s");
  });

  it("redraws in place on a terminal, and writes nothing elsewhere", () => {
    const tty = new Capture(true);
    const pipe = new Capture(false);
    for (const stream of [tty, pipe]) {
      const p = new Progress(stream, "import", 3);
      p.tick(3);
      p.finish();
    }
    expect(tty.text).toMatch(/^\rimport \[#+\] 100% 3\/3 .*\n$/s);
    expect(pipe.text).toBe("");
  });
});
