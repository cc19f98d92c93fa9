import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStoreClient } from "../../src/index.js";
import { events } from "../harness/events.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { ROLE_INBOX_PREFIX, rolePasswords } from "../harness/role-passwords.js";
import { ROOT, type ServiceProcess, startServiceProcess } from "../harness/service-process.js";
import { type ConsoleProcess, launchBrowser, openPage, screenshot, startConsole } from "./browser.js";

// The console runs with the NATS user of the command that starts it, here the roles of
// deploy/permissions.conf (as test/security/permissions.test.ts runs them): a reader sees an
// actor's events and is refused an erase, in words; an eraser erases.

const passwords = rolePasswords();
let server: NatsServer;
let service: ServiceProcess;
let admin: NatsConnection;
let browser: Browser;
const consoles: ConsoleProcess[] = [];

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "es-console-"));
  const permissions = readFileSync(join(ROOT, "deploy", "permissions.conf"), "utf8").replace(
    /^(\s*users: \[\n)/m,
    `$1    { user: admin, password: "${passwords.admin}" }\n`,
  );
  writeFileSync(join(dir, "permissions.conf"), permissions);
  server = await startNatsServer({ dir, config: "include permissions.conf" });
  service = await startServiceProcess(server.url, {
    NATS_INBOX_PREFIX: "_INBOX_eventstore",
    NATS_USER: "eventstore",
    NATS_PASSWORD: passwords.eventstore,
    NATS_JETSTREAM_USER: "eventstore-jetstream",
    NATS_JETSTREAM_PASSWORD: passwords["eventstore-jetstream"],
  });
  // The service answers the roles' inboxes only: the unrestricted admin uses the writer's.
  admin = await connect({ servers: server.url, user: "admin", pass: passwords.admin, inboxPrefix: ROLE_INBOX_PREFIX["eventstore-writer"] });
  const client = new EventStoreClient(admin);
  await client.append("order-1", events("order-1", 1, 3));
  await client.append("order-2", events("order-2", 1, 2));
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  for (const c of consoles) await c.stop();
  await admin?.close();
  await service?.stop();
  await server?.stop();
});

async function consoleAs(user: "eventstore-reader" | "eventstore-eraser"): Promise<ConsoleProcess> {
  const c = await startConsole({
    NATS_URL: server.url,
    NATS_USER: user,
    NATS_PASSWORD: passwords[user],
    NATS_INBOX_PREFIX: ROLE_INBOX_PREFIX[user]!,
  });
  consoles.push(c);
  return c;
}

describe("the console with a role's permissions", () => {
  it("lets a reader see an actor's events, shows what it may not read as refused, and refuses its erase", async () => {
    const reader = await consoleAs("eventstore-reader");
    const { page, errors } = await openPage(browser);
    await page.goto(`${reader.url}#actor=order-1`);
    await page.locator("#events .row").first().waitFor();
    expect(await page.locator("#events .row").count()).toBe(3);

    await page.locator("button", { hasText: "Erase" }).click();
    const dialog = page.locator("dialog");
    expect(await dialog.textContent()).toContain("must hold no personal data");
    await dialog.locator("input[name=reason]").fill("ticket 42");
    await dialog.locator("input[name=confirm]").fill("order-1");
    await dialog.locator("button.danger").click();
    const refusal = dialog.locator("[role=alert]");
    await refusal.waitFor();
    expect(await refusal.textContent()).toBe(
      "Erase failed: NATS refused the publish to eventstore.erase: not permitted for this connection's user (403: permission denied)",
    );
    await screenshot(page, "erase-refused");
    expect(await new EventStoreClient(admin).version("order-1")).toBe(3);

    // The stream's state needs $JS.API.STREAM.INFO, which a reader lacks: the refusal, in words.
    await page.goto(`${reader.url}#service`);
    const stream = page.locator("#stream [role=alert]");
    await stream.waitFor();
    expect(await stream.textContent()).toContain("NATS refused the publish to $JS.API.STREAM.INFO.EVENTS");
    await page.locator("#replicas table").waitFor();
    await page.goto(`${reader.url}#tail`);
    await expect.poll(() => page.locator("#tail-status").textContent()).toContain("The live tail stopped: NATS refused");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("lets an eraser erase an actor once its id is typed, and shows the result", async () => {
    const eraser = await consoleAs("eventstore-eraser");
    const { page, errors } = await openPage(browser);
    await page.goto(`${eraser.url}#actor=order-2`);
    await page.locator("#events .row").first().waitFor();
    // The eraser may not read snapshots: said beside what it may read.
    await expect.poll(() => page.locator("#actor-summary").textContent()).toContain("The snapshot could not be read: NATS refused");

    await page.locator("button", { hasText: "Erase" }).click();
    const dialog = page.locator("dialog");
    const go = dialog.locator("button.danger");
    await dialog.locator("input[name=reason]").fill("erasure request 7");
    await dialog.locator("input[name=confirm]").fill("order-");
    expect(await go.isDisabled()).toBe(true);
    await dialog.locator("input[name=confirm]").fill("order-2");
    await go.click();
    const done = dialog.locator("[role=status]");
    await done.waitFor();
    expect(await done.textContent()).toMatch(/^Erased order-2 at version 2: 2 events and 0 snapshots deleted/);
    await screenshot(page, "erase-done");
    await dialog.locator("button", { hasText: "Close" }).click();

    await page.reload();
    await expect.poll(() => page.locator("#events-status").textContent()).toContain("This actor was erased");
    const version = await new EventStoreClient(admin).request("version", { actorId: "order-2" });
    expect(version).toMatchObject({ version: 2, erased: true });
    expect(errors).toEqual([]);
    await page.close();
  });
});
