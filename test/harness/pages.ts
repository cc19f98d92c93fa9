import type { EventsResponse, ReadResponse } from "../../src/contract/types.js";
import { type EventsPage, encodeLogPage, encodePage, type LogPage } from "../../src/server/store/event-store.js";

const decoder = new TextDecoder();

/** A store's page as the events reply a caller gets. */
export function decodePage(page: EventsPage): EventsResponse {
  return JSON.parse(decoder.decode(encodePage(page))) as EventsResponse;
}

/** A store's page of the log as the read reply a caller gets. */
export function decodeLogPage(page: LogPage): ReadResponse {
  return JSON.parse(decoder.decode(encodeLogPage(page))) as ReadResponse;
}
