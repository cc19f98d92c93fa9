import { InternalError } from "../../contract/errors.js";
import type { StreamsView } from "./streams-view.js";
import type { LinkMsg } from "./tag-heads.js";
import { type ResolvedLink, resolveTagLink } from "./tag-link.js";

/**
 * A walk down one tag's chain of links (docs/design/v3-tags-read-conditions.md, section 1), for
 * reads and for a condition's exact check alike: each step gives one link's own events and its
 * window's, newest first, every step older than the one before; the next link is read while the
 * caller fetches those. A link deleted by an erase is stepped over to the newest surviving one
 * below it: nothing is lost, because a link is deleted only together with every event it indexes.
 */
export class TagWalk {
  private next: Promise<ResolvedLink | undefined> | undefined;

  constructor(
    private readonly view: StreamsView,
    private readonly subject: string,
    last: ResolvedLink,
  ) {
    this.next = Promise.resolve(last);
  }

  /** The walk from the tag's last link as read now; none when the tag has no link. */
  static async open(view: StreamsView, tag: string): Promise<TagWalk | undefined> {
    const subject = view.subjects.tags(tag);
    const last = await view.links.current(subject);
    return last && new TagWalk(view, subject, resolved(last));
  }

  /** The next link's positions, newest first; undefined once the chain has ended. */
  async step(): Promise<number[] | undefined> {
    const link = await this.next;
    if (!link) return undefined;
    // A chain points only down: anything else is not one the store wrote, and would never end.
    if (link.next >= link.seq) throw new InternalError(`the tag link at ${link.seq} on ${this.subject} points up, to ${link.next}`);
    this.next = link.next > 0 ? this.linkAt(link.next) : undefined;
    // Not awaited when the caller has what it needs first: its failure is nobody's then.
    this.next?.catch(() => {});
    return [...link.events, ...link.window.flatMap((w) => w.events)].sort((a, b) => b - a);
  }

  /** Every position of the tag's events above `after`, newest first. */
  async positionsAfter(after: number): Promise<number[]> {
    const positions: number[] = [];
    for (let step = await this.step(); step; step = await this.step()) {
      positions.push(...step.filter((p) => p > after));
      if (step.length > 0 && step.at(-1)! <= after) break;
    }
    return positions;
  }

  private async linkAt(seq: number): Promise<ResolvedLink | undefined> {
    let msg = await this.view.links.at(seq);
    if (msg?.subject !== this.subject) msg = await this.view.links.lastUpTo(this.subject, seq);
    return msg && resolved(msg);
  }
}

/** A link as read; a message on a tag subject that is not one was not written by eventstore. */
export function resolved(msg: LinkMsg): ResolvedLink {
  if (!msg.link) throw new InternalError(`message ${msg.seq} on ${msg.subject} is not a tag link: not written by eventstore`);
  return resolveTagLink(msg.seq, msg.link);
}
