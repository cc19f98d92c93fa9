// The bytes of JSON's structure and numbers, for the scans that read a request's raw bytes (depth, keys and
// number literals in validation.ts, the events of a batch in store/encode.ts). Multi-byte UTF-8 never
// contains them.
export const OPEN_BRACE = 0x7b;
export const CLOSE_BRACE = 0x7d;
export const OPEN_BRACKET = 0x5b;
export const CLOSE_BRACKET = 0x5d;
export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const COLON = 0x3a;
export const SPACE = 0x20;
export const COMMA = 0x2c;
export const DOT = 0x2e;
export const MINUS = 0x2d;
export const PLUS = 0x2b;
export const DIGIT_0 = 0x30;
export const DIGIT_9 = 0x39;
export const EXPONENT = 0x65; // e
export const EXPONENT_UPPER = 0x45; // E
