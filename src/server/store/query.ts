import type { Query, QueryItem } from "../../contract/types.js";

// What a query matches (contract v3), for every backend: pure, written once. A backend may find
// candidates by coarser means (a tag's links, a scan), but what it returns or refuses is decided here.

/** The parts of an event a query looks at. */
export interface Matchable {
  eventType: string;
  tags?: readonly string[];
}

/** No types, or the event's type among them; and every tag of the item among the event's tags. */
export function matchesItem(event: Matchable, item: QueryItem): boolean {
  if (item.types && !item.types.includes(event.eventType)) return false;
  if (!item.tags) return true;
  const tags = event.tags ?? [];
  return item.tags.every((t) => tags.includes(t));
}

/** Any item matches; no query matches every event. */
export function matchesQuery(event: Matchable, query: Query | undefined): boolean {
  return query === undefined || query.items.some((item) => matchesItem(event, item));
}
