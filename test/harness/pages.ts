import type { EventsResponse } from "../../src/contract/types.js";
import { type EventsPage, encodePage } from "../../src/server/store/event-store.js";

const decoder = new TextDecoder();

/** A store's page as the events reply a caller gets. */
export function decodePage(page: EventsPage): EventsResponse {
  return JSON.parse(decoder.decode(encodePage(page))) as EventsResponse;
}
