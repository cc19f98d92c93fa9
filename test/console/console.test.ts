import { randomUUID } from "node:crypto";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Event, EventStoreClient } from "../../src/index.js";
import { useService } from "../harness/fixture.js";
import { type ConsoleProcess, launchBrowser, openPage, record, screenshot, startConsole } from "./browser.js";

// The console against a real service with seeded actors, in Debian's chromium: a deep link, the
// events, the live tail, the service and stream, the actor lists, a projection reset, a 10,000-event
// actor, and the token. The roles (a reader refused, an eraser allowed) are in roles.test.ts.

const f = useService();
let client: EventStoreClient;
let browser: Browser;
let consoleProcess: ConsoleProcess;

// An id that needs both the subject escape and URL encoding.
const ODD_ID = "order-ä b/c#1";
const ORDERS = ["order-1", "order-2", "order-3", ODD_ID];
const BIG = "ledger-big";
const BIG_EVENTS = 10_000;

function event(actorId: string, version: number, extra: Partial<Event> = {}): Event {
  return {
    id: randomUUID(),
    eventType: version === 1 ? "OrderPlaced" : "ItemAdded",
    actorId,
    version,
    data: { order: actorId, line: version, item: { sku: `sku-${version}`, price: version * 10, tags: ["a", "b"] } },
    metadata: { correlationId: `corr-${version}` },
    ...extra,
  };
}

beforeAll(async () => {
  client = new EventStoreClient(f.nc);
  for (const actorId of ORDERS)
    await client.append(
      actorId,
      [1, 2, 3, 4, 5].map((v) => event(actorId, v)),
    );
  await client.append("user-7", [event("user-7", 1)]);
  await client.saveSnapshot({ actorId: "order-1", version: 5, state: { total: 150, lines: 5 } });
  browser = await launchBrowser();
  consoleProcess = await startConsole({ NATS_URL: f.server.url });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await consoleProcess?.stop();
});

async function open(hash: string): Promise<{ page: Page; errors: string[] }> {
  const opened = await openPage(browser);
  await opened.page.goto(`${consoleProcess.url}${hash}`);
  return opened;
}

describe("the console", () => {
  it("opens an actor from a deep link (#actor=<URL-encoded id>) with its events, snapshot and an event in full", async () => {
    const { page, errors } = await open(`#actor=${encodeURIComponent(ODD_ID)}`);
    await page.locator("#events .row").first().waitFor();
    expect(await page.locator("h2").first().textContent()).toBe(ODD_ID);
    expect(await page.locator("#events .row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-version")))).toEqual([
      "1",
      "2",
      "3",
      "4",
      "5",
    ]);
    await page.locator("#events .row[data-version='3']").click();
    const detail = page.locator("#event-detail");
    await expect.poll(() => detail.textContent()).toContain("ItemAdded · version 3");
    expect(await detail.textContent()).toContain('"sku": "sku-3"');
    expect(await detail.textContent()).toContain('"correlationId": "corr-3"');
    // Data folds: the nested array starts folded, and opens.
    const tags = detail.locator("details.json details.json details.json").first();
    expect(await tags.getAttribute("open")).toBeNull();
    await tags.locator("summary").click();
    expect(await tags.getAttribute("open")).toBe("");
    await screenshot(page, "actor");

    await page.goto(`${consoleProcess.url}#actor=order-1`);
    await expect.poll(() => page.locator("#actor-summary").textContent()).toContain("version 5");
    await page.locator("details.snapshot > summary").click();
    expect(await page.locator("details.snapshot").textContent()).toContain('"total": 150');
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows the replicas ($SRV) and the stream", async () => {
    const { page, errors } = await open("#service");
    await expect.poll(() => page.locator("#replicas").textContent()).toContain("Replicas (1)");
    const replicas = await page.locator("#replicas").textContent();
    expect(replicas).toContain(String(f.services[0]!.logs.find((l) => l.msg === "service started")?.id));
    await expect.poll(() => page.locator("#stream").textContent()).toContain("Stream EVENTS");
    const stored = ORDERS.length * 5 + 1;
    expect(await page.locator("#stream").textContent()).toMatch(new RegExp(`messages${stored}`));
    await screenshot(page, "service");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("lists the actor types with their counts, a type's actors with their versions, and searches by prefix", async () => {
    const { page, errors } = await open("#actors");
    await page.locator("table").waitFor();
    const rows = (await page.locator("tbody tr").allInnerTexts()).map((t) => t.replace(/\s+/g, " ").trim());
    expect(rows).toContain(`order ${ORDERS.length} ${ORDERS.length * 5}`);
    expect(rows).toContain("user 1 1");
    await screenshot(page, "actor-types");

    await page.locator("a", { hasText: "order" }).first().click();
    await page.locator("tbody tr").first().waitFor();
    const actors = await page.locator("tbody tr td:first-child").allTextContents();
    expect(actors.sort()).toEqual([...ORDERS].sort());
    expect(await page.locator("tbody tr").first().textContent()).toContain("5");
    await screenshot(page, "actors");

    await page.locator("input[name=prefix]").fill("order-ä");
    await page.locator("button", { hasText: "Search" }).click();
    await expect.poll(() => page.locator("tbody tr td:first-child").allTextContents()).toEqual([ODD_ID]);
    await page.locator("a", { hasText: ODD_ID }).click();
    await expect.poll(() => decodeURIComponent(new URL(page.url()).hash)).toBe(`#actor=${ODD_ID}`);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("pages a type's actors 50 at a time, in id order, through the stream's subjects", async () => {
    const ids = Array.from({ length: 53 }, (_, i) => `cart-${String(i).padStart(3, "0")}`);
    await Promise.all(ids.map((id) => client.save(event(id, 1))));
    const { page, errors } = await open("#actors=cart");
    const cells = page.locator("tbody tr td:first-child");
    await expect.poll(() => cells.count()).toBe(50);
    expect(await cells.allTextContents()).toEqual(ids.slice(0, 50));
    expect(await page.locator(".toolbar .muted").textContent()).toBe("1-50 of 53");
    await page.locator("button", { hasText: "Next" }).click();
    await expect.poll(() => cells.allTextContents()).toEqual(ids.slice(50));
    expect(await page.locator("button", { hasText: "Next" }).isDisabled()).toBe(true);
    await page.locator("button", { hasText: "Previous" }).click();
    await expect.poll(() => cells.count()).toBe(50);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows a newly saved event in the live tail, filtered by actor type", async () => {
    const { page, errors } = await open("#tail");
    await page.locator("input[name=actorType]").fill("order");
    await page.locator("button", { hasText: "Follow" }).click();
    await page.locator("#tail-status[data-following]").waitFor();
    // Another type's event is not shown; the order's is.
    await client.save(event("user-7", 2));
    const started = Date.now();
    const saved = await client.save(event("order-2", 6, { eventType: "OrderShipped" }));
    const row = page.locator(`#tail tr[data-sequence='${saved.sequence}']`);
    await row.waitFor();
    const shownAt = Number(await row.getAttribute("data-shown-at"));
    expect(await row.textContent()).toContain("OrderShipped");
    expect(await page.locator("#tail tbody tr").count()).toBe(1);
    record("tail-latency", { savedToShownMs: shownAt - started, note: "client.save() called -> row in the DOM of the tail" });
    await screenshot(page, "tail");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("resets a projection once its name is typed, and shows its new position", async () => {
    let handled = 0;
    const projection = await client.project("order-totals", async () => {
      handled++;
    });
    const stored = async () => (await client.projections()).find((p) => p.name === "order-totals");
    await expect.poll(async () => (await stored())?.pending, { timeout: 20_000 }).toBe(0);
    await projection.stop();
    const before = (await stored())!.ackFloor;
    expect(before).toBeGreaterThan(0);

    const { page, errors } = await open("#projections");
    const row = page.locator("tbody tr", { hasText: "order-totals" });
    await row.waitFor();
    expect(await row.textContent()).toContain(String(before));
    await screenshot(page, "projections");
    await row.locator("button", { hasText: "Reset" }).click();
    const dialog = page.locator("dialog");
    expect(await dialog.locator("h3").textContent()).toBe("Reset projection order-totals");
    const go = dialog.locator("button", { hasText: "Reset" });
    await dialog.locator("input[name=confirm]").fill("order-total");
    expect(await go.isDisabled()).toBe(true);
    await dialog.locator("input[name=confirm]").fill("order-totals");
    await go.click();
    await expect.poll(() => dialog.locator("[role=status]").textContent()).toBe("Projection order-totals resumes at sequence 1.");
    await screenshot(page, "projection-reset");
    expect((await stored())!.ackFloor).toBe(0);
    expect(handled).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("opens the first page of a 10,000-event actor at once and scrolls through the rest", async () => {
    for (let from = 1; from <= BIG_EVENTS; from += 500) {
      await client.append(
        BIG,
        Array.from({ length: 500 }, (_, i) => event(BIG, from + i)),
      );
    }
    const { page, errors } = await openPage(browser);
    await page.goto(`${consoleProcess.url}#service`);
    await page.locator("#replicas table").waitFor();
    // Measured in the browser: from the deep link's navigation to the first row drawn.
    // (A string: the tests are type-checked without the DOM's types.)
    const firstRowMs = await page.evaluate<number>(`(async () => {
      const start = performance.now();
      location.hash = "actor=" + encodeURIComponent(${JSON.stringify(BIG)});
      for (;;) {
        if (document.querySelector("#events .row")) return performance.now() - start;
        await new Promise((r) => requestAnimationFrame(r));
      }
    })()`);
    const status = page.locator("#events-status");
    const firstPageMs = Number(await status.getAttribute("data-first-page-ms"));
    // Only the rows in view are in the DOM.
    expect(await page.locator("#events .row").count()).toBeLessThan(100);
    await screenshot(page, "actor-10000");

    const scroller = page.locator("#events");
    for (let i = 0; i < 200 && !(await status.textContent())?.startsWith("10,000 events"); i++) {
      await scroller.evaluate((el) => el.scrollTo(0, el.scrollHeight));
      await page.waitForTimeout(50);
    }
    expect(await status.textContent()).toMatch(/^10,000 events/);
    await scroller.evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await page.locator(`#events .row[data-version='${BIG_EVENTS}']`).waitFor();
    expect(await page.locator("#events .row").count()).toBeLessThan(100);
    record("first-page-10000", { firstRowInBrowserMs: Math.round(firstRowMs), firstPageFetchMs: firstPageMs, events: BIG_EVENTS });
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it("serves nothing without the run's token: not the page, not its code, not the API", async () => {
    const { base, token } = consoleProcess;
    const wrong = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    for (const path of ["/", "/page/main.js", "/console.css", "/api/types", "/api/tail", `/?token=${wrong}`, `/api/stream?token=`]) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(401);
      expect(await res.text(), path).not.toContain("EVENTS");
    }
    const wrongHeader = await fetch(`${base}/api/stream`, { headers: { "X-Console-Token": wrong } });
    expect(wrongHeader.status).toBe(401);
    // In the browser: a wrong token shows the refusal, not the console.
    const { page } = await openPage(browser);
    const res = await page.goto(`${base}/?token=${wrong}#actor=order-1`);
    expect(res?.status()).toBe(401);
    expect(await page.locator("body").textContent()).toContain("401");
    await page.close();

    // With the token: the page sets a cookie for what it loads; a change also needs the header,
    // which only the page has (a cookie comes with other sites' requests too).
    const first = await fetch(`${base}/?token=${token}`);
    expect(first.status).toBe(200);
    const cookie = first.headers.get("set-cookie")!.split(";")[0]!;
    expect((await fetch(`${base}/api/stream`, { headers: { cookie } })).status).toBe(200);
    const erase = await fetch(`${base}/api/erase`, {
      method: "POST",
      headers: { cookie, "Content-Type": "application/json" },
      body: JSON.stringify({ actorId: "order-3", confirm: "order-3" }),
    });
    expect(erase.status).toBe(403);
    expect(await client.version("order-3")).toBe(5);
  });
});
