import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { spawnCli } from "../cli/run-cli.js";
import { stopProcess } from "../harness/processes.js";
import { ROOT } from "../harness/service-process.js";

/** Screenshots and measurements of the console tests (gitignored); docs/console holds the current ones. */
export const ARTIFACTS = join(ROOT, "test-artifacts", "console");

/**
 * Debian's chromium (CHROMIUM_BIN, the PATH, or installed by scripts/get-chromium.sh when running
 * as root), driven by playwright-core: its own browser download cannot work offline.
 */
export async function launchBrowser(): Promise<Browser> {
  process.env.CHROMIUM_BIN ||= execFileSync("bash", [join(ROOT, "scripts", "get-chromium.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
  // --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: process.env.CHROMIUM_BIN, args: ["--no-sandbox"] });
}

export interface ConsoleProcess {
  /** The printed URL, token included. */
  url: string;
  /** The URL without the token. */
  base: string;
  token: string;
  stop(): Promise<number | null>;
}

/** Runs `nats-eventstore console --port 0` with env (the whole environment beside PATH) and reads its URL. */
export async function startConsole(env: Record<string, string>, args: string[] = []): Promise<ConsoleProcess> {
  const child = spawnCli(["console", "--port", "0", ...args], env);
  child.stdin!.end();
  let out = "";
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) resolve(line);
    });
    child.once("exit", (code) => reject(new Error(`the console exited with ${code}: ${err}`)));
  });
  const parsed = new URL(url);
  return {
    url,
    base: `${parsed.protocol}//${parsed.host}`,
    token: parsed.searchParams.get("token") ?? "",
    stop: () => stopProcess(child),
  };
}

/** A page that fails the test on any uncaught error in the console's code. */
export async function openPage(browser: Browser): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  return { page, errors };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}

/** A measurement, written beside the screenshots and printed. */
export function record(name: string, value: unknown): void {
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, `${name}.json`), `${JSON.stringify(value, null, 2)}\n`);
  console.log(`console measurement ${name}: ${JSON.stringify(value)}`);
}
