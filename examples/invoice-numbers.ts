// dcb.events "Invoice numbers without gaps": each invoice gets the number after the last one, so
// the numbers run 1, 2, 3, ... with no gap and no repeat, however many processes create invoices.
// Consistency boundary: invoice creations, the query `{types: ["InvoiceCreated"], tags: ["invoices"]}`.
// A creation reads that query backwards with limit 1 (only the last invoice: the read costs the same
// however many invoices exist), numbers the new one after it, and appends with a condition on the
// same query after the read's head: stored only if no invoice was created since, else numbered
// again. A types-only query would do too, but its condition would be guarded on every event of
// the type however it is tagged; the tag keeps the boundary as narrow as the rule. Writes without
// the tag never contend with invoices.
// Each invoice is version 1 of an actor of its own (`invoice-<uuid>`), so no actor's version
// serialises anything here: the condition alone does.
// In an application, import from "nats-eventstore".
import { randomUUID } from "node:crypto";
import type { Event, EventStoreClient, Query } from "../src/index.js";
import { type DecisionOptions, retryOnConditionFailed } from "./dcb-retry.js";

export const INVOICES_TAG = "invoices";
export const invoicesQuery: Query = { items: [{ types: ["InvoiceCreated"], tags: [INVOICES_TAG] }] };

export interface Invoice {
  invoiceId: string;
  number: number;
  eventId: string;
  position: number;
}

/** Creates an invoice with the next number; `data` is the rest of the invoice (customer, lines ...). */
export function createInvoice(client: EventStoreClient, data: Event["data"], options: DecisionOptions = {}): Promise<Invoice> {
  return retryOnConditionFailed(options, async () => {
    const read = client.read(invoicesQuery, { backwards: true, limit: 1 });
    let last = 0;
    for await (const { event } of read) last = Number(event.data.number);
    const invoiceId = `invoice-${randomUUID()}`;
    const number = last + 1;
    const event: Event = {
      id: randomUUID(),
      eventType: "InvoiceCreated",
      actorId: invoiceId,
      version: 1,
      data: { ...data, number },
      tags: [INVOICES_TAG],
    };
    // A read that ran to its end has a head (0 on an empty stream).
    const after = read.head ?? 0;
    const reply = await client.append(invoiceId, [event], { condition: { failIfEventsMatch: invoicesQuery, after } });
    return { invoiceId, number, eventId: event.id, position: reply.sequences[0]! };
  });
}
