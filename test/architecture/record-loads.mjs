// Loaded with `node --import`: records the URL of every module the process resolves, one a line,
// in the file RECORD_LOADS names (test/architecture/client-entry.test.ts).
import { register } from "node:module";

register("./record-loads-hooks.mjs", import.meta.url);
