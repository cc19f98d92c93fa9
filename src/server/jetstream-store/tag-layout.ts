// Where each message of a tagged or conditional write goes in its atomic batch
// (docs/design/v3-tags-read-conditions.md, section 1): actor by actor, its events and then one tag
// link per distinct tag among them; the guard messages of the condition last. Pure: the write path
// builds the messages from it, and the batch size is counted from it before anything is sent.

/** One tag link of the batch. */
export interface LinkPlace {
  tag: string;
  /** The link's index in the batch. */
  index: number;
  /** Offsets back from the link to the events of its actor that carry the tag (the link's `o`). */
  offsets: number[];
  /** The index of the tag's previous link in this batch; none for the tag's first link of the batch. */
  previousIndex?: number;
}

export interface BatchLayout {
  /** Per actor, the batch index of each of its events. */
  events: number[][];
  links: LinkPlace[];
  /** The index of the first guard message (they follow everything else). */
  guardsAt: number;
  /** Messages in all: events, links and guard messages. */
  count: number;
}

/** The layout of a batch of these actors' events (each event's tags) and `guards` guard messages. */
export function layOutBatch(actors: readonly (readonly { tags?: readonly string[] }[])[], guards: number): BatchLayout {
  const events: number[][] = [];
  const links: LinkPlace[] = [];
  const lastLinkOf = new Map<string, number>();
  let index = 0;
  for (const actorEvents of actors) {
    const first = index;
    events.push(actorEvents.map(() => index++));
    // Each distinct tag of the actor's events, in the order the events first carry it.
    const carriers = new Map<string, number[]>();
    for (const [j, e] of actorEvents.entries()) {
      for (const tag of new Set(e.tags ?? [])) {
        const at = carriers.get(tag);
        if (at) at.push(first + j);
        else carriers.set(tag, [first + j]);
      }
    }
    for (const [tag, at] of carriers) {
      const place: LinkPlace = { tag, index, offsets: at.map((i) => index - i) };
      const previousIndex = lastLinkOf.get(tag);
      if (previousIndex !== undefined) place.previousIndex = previousIndex;
      lastLinkOf.set(tag, index);
      links.push(place);
      index++;
    }
  }
  return { events, links, guardsAt: index, count: index + guards };
}
