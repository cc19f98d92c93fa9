import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package's root folder, whether this runs from src/ (tests) or dist/src/ (built). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "schemas"))) return dir;
    dir = dirname(dir);
  }
  throw new Error("cannot find the nats-eventstore package root (package.json beside schemas/)");
}

export const schemasDir = (): string => join(packageRoot(), "schemas");
