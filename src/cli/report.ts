import { ValidationError } from "../contract/errors.js";

/**
 * An error as one or more readable lines: the message, then a ValidationError's field errors when
 * there are more than the one its message names.
 */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (!(err instanceof ValidationError) || err.errors.length < 2) return err.message;
  return [err.message, ...err.errors.map((e) => `  ${e.path}: ${e.message}`)].join("\n");
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
