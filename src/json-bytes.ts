// The bytes of JSON's structure, for the scans that read a request's raw bytes (depth and keys in
// validation.ts, the events of a batch in store/encode.ts). Multi-byte UTF-8 never contains them.
export const OPEN_BRACE = 0x7b;
export const CLOSE_BRACE = 0x7d;
export const OPEN_BRACKET = 0x5b;
export const CLOSE_BRACKET = 0x5d;
export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const COLON = 0x3a;
export const SPACE = 0x20;
