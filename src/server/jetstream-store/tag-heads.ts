import type { MessageCodec, StreamMsg } from "../jetstream/reader.js";
import { StaleIndexError } from "./stored-msg.js";
import { decodeTagLink, type TagLink } from "./tag-link.js";

/** A tag link as the stream holds it. */
export interface LinkMsg extends StreamMsg {
  link: TagLink;
}

/** The end of a tag's chain: its last link and where it is; seq 0 when the tag has none. */
export interface TagHead {
  seq: number;
  link?: TagLink;
}

/** How tag links read: each body decoded once; a message on a tag subject that is not a link fails the read. */
export const storedLinks: MessageCodec<LinkMsg, undefined> = {
  decode: (seq, subject, _headers, data) => ({ seq, subject, link: decodeTagLink(data) }),
  assume: (seq, subject, _expected, data) => ({ seq, subject, link: decodeTagLink(data) }),
  holds: () => true,
  headersHold: () => true,
  changed: (message) => new StaleIndexError(message),
};
