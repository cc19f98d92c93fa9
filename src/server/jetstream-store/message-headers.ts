import { Headers } from "../../contract/subjects.js";

// The headers the store writes on its messages (the contract's event headers), in one place.

/** A stored event's or snapshot's: its version, which reads check the index against. */
export function versionHeader(version: number): Record<string, string> {
  return { [Headers.version]: String(version) };
}

/** A tombstone's: the version its actor had reached, and when it was erased. */
export function tombstoneHeaders(version: number, erasedAt: string): Record<string, string> {
  return { ...versionHeader(version), [Headers.erased]: erasedAt };
}
