import type { MessageCodec, StreamMsg } from "../jetstream/reader.js";
import { StaleIndexError } from "./stored-msg.js";
import { decodeTagLink, type TagLink } from "./tag-link.js";

/** A message read where a tag link is expected: its link, or none when it is another message (deleted and reused, foreign). */
export interface LinkMsg extends StreamMsg {
  link?: TagLink;
}

/** The end of a tag's chain: its last link and where it is; seq 0 when the tag has none. */
export interface TagHead {
  seq: number;
  link?: TagLink;
}

/** How tag links read: each body decoded once; whoever reads says what a message that is not a link means. */
export const storedLinks: MessageCodec<LinkMsg, undefined> = {
  decode: (seq, subject, _headers, data) => linkMsg(seq, subject, data),
  assume: (seq, subject, _expected, data) => linkMsg(seq, subject, data),
  holds: () => true,
  headersHold: () => true,
  changed: (message) => new StaleIndexError(message),
};

function linkMsg(seq: number, subject: string, data: Uint8Array): LinkMsg {
  try {
    return { seq, subject, link: decodeTagLink(data) };
  } catch {
    return { seq, subject };
  }
}
