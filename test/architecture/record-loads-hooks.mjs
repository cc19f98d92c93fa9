import { appendFileSync } from "node:fs";

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.startsWith("file:")) appendFileSync(process.env.RECORD_LOADS, `${resolved.url}\n`);
  return resolved;
}
